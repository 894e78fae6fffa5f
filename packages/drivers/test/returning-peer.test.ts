/**
 * A peer that drops and comes back while the app has not read everything
 * its previous link delivered. libzmq's ROUTER refuses a second pipe with a
 * routing id it still has, and a PAIR a second pipe while it has one (the
 * first pipe lives until the app has read what it delivered); an inproc
 * pipe refused is never retried. So the peer's new bridge must connect only
 * once the app let go of the old one; native tcp:// peers get the same
 * outcome by reconnecting until they are accepted.
 */
import * as zmq from "zeromq";
import { afterEach, describe, expect, it } from "vitest";
import { Vtx } from "@vtx/runtime";
import { ztcp } from "@vtx/drivers";
import { within } from "./helpers.js";

describe("a peer that comes back to a vtx-bound ROUTER or PAIR", () => {
  let vtx: Vtx | undefined;
  const natives: zmq.Socket[] = [];
  afterEach(async () => {
    for (const s of natives.splice(0)) s.close();
    await vtx?.destroy();
  });

  /**
   * A vtx `type` socket bound over ztcp. A native peer made by `peer` sends
   * `count` messages numbered from 0; the app reads the first (so the link
   * was up) and the peer drops with the rest unread. A second peer made the
   * same way connects and sends `count` more, numbered from 1000.
   */
  async function dropAndReturn(
    type: "ROUTER" | "PAIR",
    peer: () => zmq.Dealer | zmq.Pair,
    count: number,
  ): Promise<{ app: zmq.Router | zmq.Pair; first: Buffer[]; second: zmq.Dealer | zmq.Pair }> {
    vtx = new Vtx();
    vtx.register("ztcp", ztcp());
    const app = vtx.socket(type, { linger: 0 });
    const tcp = (await vtx.bind(app, "ztcp://127.0.0.1:0")).replace("ztcp://", "tcp://");
    const one = peer();
    natives.push(one);
    one.connect(tcp);
    for (let i = 0; i < count; i++) await within(one.send(String(i)), 5000, `send ${i}`);
    const first = await within(app.receive(), 5000, "first message");
    const gone = vtx.waitFor((e) => e.socket === app && e.type === "disconnected", 5000);
    one.close();
    await gone;
    const second = peer();
    natives.push(second);
    second.connect(tcp);
    for (let i = 1000; i < 1000 + count; i++) await within(second.send(String(i)), 5000, `send ${i}`);
    return { app, first, second };
  }

  /** The numbers the app reads next, `n` of them (its last frame; `check` sees every message). */
  async function readNumbers(app: { receive(): Promise<Buffer[]> }, n: number, check: (frames: Buffer[]) => void = () => undefined): Promise<number[]> {
    const got: number[] = [];
    for (let i = 0; i < n; i++) {
      const frames = await within(app.receive(), 5000, `message ${i + 1} of ${n} (got ${got.join(",")})`);
      check(frames);
      got.push(Number(frames.at(-1)!.toString()));
    }
    return got;
  }

  const numbered = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

  it("ROUTER, a peer with its own routing id: messages from before it dropped are read first, then the returning peer's, none lost", async () => {
    const { app, first, second } = await dropAndReturn("ROUTER", () => new zmq.Dealer({ linger: 1000, routingId: "alice" }), 50);
    const router = app as zmq.Router;
    expect(first.map(String)).toEqual(["alice", "0"]);
    const got = await readNumbers(router, 99, ([id]) => expect(id?.toString()).toBe("alice"));
    expect(got).toEqual([...numbered(1, 49), ...numbered(1000, 50)]);
    // Replies reach the returning peer.
    await within(router.send(["alice", "welcome back"]), 5000, "reply");
    const [reply] = await within(second.receive(), 5000, "reply at the returning peer");
    expect(reply?.toString()).toBe("welcome back");
  });

  it("PAIR: the returning peer's messages follow the unread ones of its previous link, and replies reach it", async () => {
    const { app: pair, first, second } = await dropAndReturn("PAIR", () => new zmq.Pair({ linger: 1000 }), 20);
    expect(first.map(String)).toEqual(["0"]);
    expect(await readNumbers(pair, 39)).toEqual([...numbered(1, 19), ...numbered(1000, 20)]);
    await within(pair.send("welcome back"), 5000, "reply");
    expect((await within(second.receive(), 5000, "reply at the returning peer"))[0]?.toString()).toBe("welcome back");
  });
});
