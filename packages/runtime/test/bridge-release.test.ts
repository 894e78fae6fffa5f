/**
 * A bridge that replaces one a dead driver left behind (real zeromq.js
 * sockets, inproc, one thread): libzmq keeps the messages a closed bridge
 * had handed the app socket, and fair-queues the app socket's pipes, so a
 * new bridge delivering at once would have them read interleaved with its
 * own. `closeReleased` resolves only once the app has read everything the
 * closed bridge delivered, and a bridge opened with `after` holds its
 * deliveries until then: the app reads every old message, then the new ones.
 */
import * as zmq from "zeromq";
import { describe, expect, it } from "vitest";
import { Bridge } from "../src/bridge.js";

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

let seq = 0;

/** Binds `app` to a fresh inproc endpoint, runs `body` with it, and closes it whatever happens. */
async function withApp<S extends zmq.Socket>(app: S, body: (app: S, inproc: string) => Promise<void>): Promise<void> {
  const inproc = `inproc://bridge-release-${process.pid}-${seq++}`;
  try {
    await app.bind(inproc);
    await body(app, inproc);
  } finally {
    app.close();
  }
}

/** Delivers the numbers `from` … `from + n - 1` to the app, one message each. */
function deliverNumbers(bridge: Bridge, from: number, n: number): void {
  for (let i = from; i < from + n; i++) bridge.deliver([Buffer.from(String(i))]);
}

/** One event-loop turn: the bridge's queued sends reach libzmq (each waits its turn). */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** The numbers in the last frame of the app's next `n` messages (`check` sees each message). */
async function readNumbers(app: { receive(): Promise<Buffer[]> }, n: number, check: (frames: Buffer[]) => void = () => undefined): Promise<number[]> {
  const got: number[] = [];
  for (let i = 0; i < n; i++) {
    const frames = await app.receive();
    check(frames);
    got.push(Number(frames.at(-1)!.toString()));
  }
  return got;
}

const numbered = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

describe("Bridge.closeReleased and after", () => {
  it("a bridge opened after one was closed with messages unread delivers only once the app has read them", () =>
    withApp(new zmq.Pull({ linger: 0 }), async (app, inproc) => {
      const old = Bridge.open("PULL", inproc);
      deliverNumbers(old, 0, 300);
      await turn();
      let released = false;
      const gone = old.closeReleased().then(() => {
        released = true;
      });
      const next = Bridge.open("PULL", inproc, { after: gone });
      deliverNumbers(next, 1000, 100);

      // The end of the old bridge's pipe sits behind its last message.
      const got = await within(readNumbers(app, 299), 5000, "all but one old message");
      expect(released).toBe(false);
      got.push(...(await within(readNumbers(app, 101), 5000, "the last old message and the new ones")));
      await within(gone, 5000, "the old bridge released");
      expect(released).toBe(true);
      expect(got).toEqual([...numbered(0, 300), ...numbered(1000, 100)]);
      next.close();
    }));

  it("without the hold, libzmq interleaves the old bridge's messages with the new one's (why it exists)", () =>
    withApp(new zmq.Pull({ linger: 0 }), async (app, inproc) => {
      const old = Bridge.open("PULL", inproc);
      deliverNumbers(old, 0, 100);
      await turn();
      const gone = old.closeReleased();
      const next = Bridge.open("PULL", inproc);
      deliverNumbers(next, 1000, 100);
      await turn();
      const got = await within(readNumbers(app, 200), 5000, "200 messages");
      const firstNew = got.findIndex((x) => x >= 1000);
      expect(got.slice(firstNew).some((x) => x < 1000)).toBe(true);
      // A receive reaches the end of the old pipe.
      const more = app.receive();
      more.catch(() => undefined);
      await within(gone, 5000, "the old bridge released");
      next.close();
    }));

  it("releases at once for an app socket that never reads (PUSH), even one that does nothing", () =>
    withApp(new zmq.Push({ linger: 0 }), async (_app, inproc) => {
      const bridge = Bridge.open("PUSH", inproc);
      await within(bridge.closeReleased(), 5000, "a PUSH app's bridge released");
    }));

  it("an app ROUTER: a restarted bridge with the same peer routing id is accepted and delivers after the old one's messages", () =>
    withApp(new zmq.Router({ linger: 0 }), async (app, inproc) => {
      const id = Buffer.from("alice");
      const old = Bridge.open("ROUTER", inproc, { routingId: id });
      deliverNumbers(old, 0, 100);
      await turn();
      const gone = old.closeReleased();
      const next = Bridge.open("ROUTER", inproc, { routingId: id, after: gone, connectAfter: gone });
      deliverNumbers(next, 1000, 100);
      const got = await within(
        readNumbers(app, 200, ([from]) => expect(from?.toString()).toBe("alice")),
        5000,
        "200 messages at the app ROUTER",
      );
      expect(got).toEqual([...numbered(0, 100), ...numbered(1000, 100)]);
      await within(gone, 5000, "the old bridge released");
      next.close();
    }));

  it("an app PAIR: the next bridge connects once the old one is released, and its messages follow (a PAIR refuses a second pipe for good)", () =>
    withApp(new zmq.Pair({ linger: 0 }), async (app, inproc) => {
      const old = Bridge.open("PAIR", inproc);
      deliverNumbers(old, 0, 10);
      await turn();
      const gone = old.closeReleased();
      const next = Bridge.open("PAIR", inproc, { connectAfter: gone });
      deliverNumbers(next, 100, 10);
      const got = await within(readNumbers(app, 20), 5000, "20 messages at the app PAIR");
      expect(got).toEqual([...numbered(0, 10), ...numbered(100, 10)]);
      next.close();
    }));
});
