/**
 * The broker spoken to in raw ZPIPES bytes from plain zeromq.js DEALERs (no
 * vtx client code, no codec): every reply is checked byte for byte. One
 * `describe` per row of the reference table (docs/zpipes.md), then the rows
 * where the original crashes or hangs.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ZpipesBroker, type BrokerOptions } from "../src/broker/index.js";
import { memoryLogger } from "../src/log.js";
import { F, RawClient, hexBytes, uniqueName } from "./helpers/raw-client.js";

/**
 * Every test runs twice: against the libzmq ROUTER (the abstract ipc://
 * endpoint, which only libzmq can reach) and against the ROUTER the broker
 * serves itself (ZMTP over node:net, on tcp://), so libzmq DEALERs are
 * checked against both.
 */
const VIAS = ["libzmq", "direct"] as const;
let via: (typeof VIAS)[number] = "libzmq";

let broker: ZpipesBroker | null = null;
let clients: RawClient[] = [];
let log = memoryLogger();

afterEach(async () => {
  for (const c of clients) c.close();
  clients = [];
  await broker?.stop();
  broker = null;
});

async function start(options: BrokerOptions = {}): Promise<string> {
  log = memoryLogger();
  broker =
    via === "libzmq"
      ? new ZpipesBroker({ name: uniqueName("raw"), logger: log, ...options })
      : new ZpipesBroker({ name: uniqueName("raw"), logger: log, noDefaultEndpoint: true, ...options, endpoints: ["tcp://127.0.0.1:*", ...(options.endpoints ?? [])] });
  await broker.start();
  return broker.endpoints[0] as string;
}

async function client(ep: string): Promise<RawClient> {
  const c = await RawClient.connect(ep);
  clients.push(c);
  return c;
}

/** A writer and a reader attached to pipe `name`. */
async function pair(ep: string, name = "p"): Promise<{ w: RawClient; r: RawClient }> {
  const w = await client(ep);
  const r = await client(ep);
  expect(await w.call(F.output(name))).toBe(F.OUTPUT_OK);
  expect(await r.call(F.input(name))).toBe(F.INPUT_OK);
  return { w, r };
}

/** Proves `c` has no reply outstanding: a PING's PING_OK comes back first. */
async function expectPending(c: RawClient): Promise<void> {
  expect(await c.call(F.ping)).toBe(F.PING_OK);
}

for (const v of VIAS) {
  describe(`through the ${v} ROUTER`, () => {
    beforeAll(() => {
      via = v;
    });

    describe("captured replies of the original", () => {
      it("OUTPUT → aaa005; READ 3 with 'hello' queued → aaa00800000003 68656c; READ 0 → aaa009; READ before INPUT → aaa015; PING → aaa014", async () => {
        const ep = await start();
        const w = await client(ep);
        const r = await client(ep);
        expect(await r.call("aaa013")).toBe("aaa014");
        expect(await r.call("aaa0070000000300000000")).toBe("aaa015");
        expect(await w.call("aaa0040170")).toBe("aaa005");
        expect(await r.call("aaa0010170")).toBe("aaa002");
        expect(await w.call("aaa00c0000000568656c6c6f00000000")).toBe("aaa00d");
        expect(await r.call("aaa0070000000300000000")).toBe("aaa00800000003" + "68656c");
        expect(await r.call("aaa0070000000000000000")).toBe("aaa009");
      });

      it("a second INPUT on a pipe that has a reader → INPUT_FAILED (we add a reason)", async () => {
        const ep = await start();
        const r1 = await client(ep);
        const r2 = await client(ep);
        expect(await r1.call(F.input("p"))).toBe(F.INPUT_OK);
        expect(await r2.call(F.input("p"))).toBe(F.inputFailed("pipe 'p' already has a reader"));
      });
    });

    describe("READ size n with enough queued", () => {
      it("returns exactly n bytes, splitting and merging queued chunks", async () => {
        const { w, r } = await pair(await start());
        expect(await w.call(F.write("hello", 0))).toBe(F.WRITE_OK);
        expect(await w.call(F.write("world", 0))).toBe(F.WRITE_OK);
        expect(await w.call(F.write("!", 0))).toBe(F.WRITE_OK);
        expect(await r.call(F.read(3, 0))).toBe(F.readOk("hel"));
        expect(await r.call(F.read(4, 0))).toBe(F.readOk("lowo"));
        expect(await r.call(F.read(4, 0))).toBe(F.readOk("rld!"));
        expect(broker?.stats().heldBytes).toBe(0);
      });
    });

    describe("READ with less than n queued, writer open", () => {
      it("waits for more and completes with exactly n bytes", async () => {
        const { w, r } = await pair(await start());
        expect(await w.call(F.write("ab", 0))).toBe(F.WRITE_OK);
        await r.send(F.read(5, 0));
        await expectPending(r);
        expect(await w.call(F.write("cdefg", 0))).toBe(F.WRITE_OK);
        expect(await r.recvHex()).toBe(F.readOk("abcde"));
        expect(await r.call(F.read(2, 0))).toBe(F.readOk("fg"));
      });

      it("ignores the read's timeout once any data is queued", async () => {
        const { w, r } = await pair(await start());
        expect(await w.call(F.write("ab", 0))).toBe(F.WRITE_OK);
        await r.send(F.read(5, 30));
        // Well past the 30 ms timeout, the read is still pending (no READ_TIMEOUT).
        await new Promise((res) => setTimeout(res, 150));
        await expectPending(r);
        expect(await w.call(F.write("cde", 0))).toBe(F.WRITE_OK);
        expect(await r.recvHex()).toBe(F.readOk("abcde"));
      });
    });

    describe("READ with the queue empty, writer open", () => {
      it("answers READ_TIMEOUT after `timeout` ms", async () => {
        const { r } = await pair(await start());
        const t0 = Date.now();
        expect(await r.call(F.read(4, 100))).toBe(F.READ_TIMEOUT);
        expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
      });

      it("waits forever with timeout 0, until data comes", async () => {
        const { w, r } = await pair(await start());
        await r.send(F.read(4, 0));
        await expectPending(r);
        expect(await w.call(F.write("data", 0))).toBe(F.WRITE_OK);
        expect(await r.recvHex()).toBe(F.readOk("data"));
      });
    });

    describe("READ after the writer is gone", () => {
      it("gives a short READ_OK with what is left, then READ_END", async () => {
        const { w, r } = await pair(await start());
        expect(await w.call(F.write("abc", 0))).toBe(F.WRITE_OK);
        expect(await w.call(F.close)).toBe(F.CLOSE_OK);
        expect(await r.call(F.read(10, 0))).toBe(F.readOk("abc"));
        expect(await r.call(F.read(10, 0))).toBe(F.READ_END);
        expect(await r.call(F.read(10, 100))).toBe(F.READ_END);
      });
    });

    describe("READ size 0", () => {
      it("is READ_END", async () => {
        const { w, r } = await pair(await start());
        expect(await w.call(F.write("abc", 0))).toBe(F.WRITE_OK);
        expect(await r.call(F.read(0, 0))).toBe(F.READ_END);
        expect(await r.call(F.read(3, 0))).toBe(F.readOk("abc"));
      });
    });

    describe("WRITE with a reader attached", () => {
      it("is WRITE_OK at once while the pipe is within its byte budget", async () => {
        const { w } = await pair(await start({ budget: 10 }));
        expect(await w.call(F.write("12345", 0))).toBe(F.WRITE_OK);
        expect(await w.call(F.write("67890", 0))).toBe(F.WRITE_OK);
      });

      it("waits beyond the budget (flow control) and completes when the reader makes room", async () => {
        const { w, r } = await pair(await start({ budget: 10 }));
        expect(await w.call(F.write("1234567890", 0))).toBe(F.WRITE_OK);
        await w.send(F.write("abc", 0));
        await expectPending(w);
        expect(broker?.stats().heldBytes).toBe(13);
        expect(await r.call(F.read(4, 0))).toBe(F.readOk("1234"));
        expect(await w.recvHex()).toBe(F.WRITE_OK);
        expect(await r.call(F.read(9, 0))).toBe(F.readOk("567890abc"));
      });

      it("answers WRITE_TIMEOUT when the budget stays full past the timeout, and drops the chunk", async () => {
        const { w, r } = await pair(await start({ budget: 4 }));
        expect(await w.call(F.write("full", 0))).toBe(F.WRITE_OK);
        expect(await w.call(F.write("late", 80))).toBe(F.WRITE_TIMEOUT);
        expect(await w.call(F.close)).toBe(F.CLOSE_OK);
        expect(await r.call(F.read(100, 0))).toBe(F.readOk("full"));
        expect(await r.call(F.read(100, 0))).toBe(F.READ_END);
      });

      it("lets a READ larger than the budget complete (the budget grows to the pending read)", async () => {
        const { w, r } = await pair(await start({ budget: 4 }));
        await r.send(F.read(12, 0));
        for (const part of ["abcd", "efgh", "ijkl"]) expect(await w.call(F.write(part, 0))).toBe(F.WRITE_OK);
        expect(await r.recvHex()).toBe(F.readOk("abcdefghijkl"));
      });

      it("takes a chunk larger than the room left when the reader waits for more than is queued (no deadlock)", async () => {
        const { w, r } = await pair(await start({ budget: 4 }));
        expect(await w.call(F.write("0123456789", 0))).toBe(F.WRITE_OK);
        expect(await r.call(F.read(4, 0))).toBe(F.readOk("0123"));
        await r.send(F.read(8, 0));
        await expectPending(r);
        expect(await w.call(F.write("abcdefghij", 0))).toBe(F.WRITE_OK);
        expect(await r.recvHex()).toBe(F.readOk("456789ab"));
      });

      it("takes a chunk larger than the budget into an empty pipe", async () => {
        const { w, r } = await pair(await start({ budget: 4 }));
        expect(await w.call(F.write("0123456789", 0))).toBe(F.WRITE_OK);
        expect(await r.call(F.read(10, 0))).toBe(F.readOk("0123456789"));
      });
    });

    describe("WRITE with no reader", () => {
      it("with timeout > 0 answers WRITE_TIMEOUT and drops the chunk", async () => {
        const ep = await start();
        const w = await client(ep);
        expect(await w.call(F.output("p"))).toBe(F.OUTPUT_OK);
        expect(await w.call(F.write("lost", 50))).toBe(F.WRITE_TIMEOUT);
        const r = await client(ep);
        expect(await r.call(F.input("p"))).toBe(F.INPUT_OK);
        expect(await w.call(F.write("kept", 0))).toBe(F.WRITE_OK);
        expect(await r.call(F.read(4, 0))).toBe(F.readOk("kept"));
      });

      it("with timeout 0 waits for a reader, then WRITE_OK", async () => {
        const ep = await start();
        const w = await client(ep);
        expect(await w.call(F.output("p"))).toBe(F.OUTPUT_OK);
        await w.send(F.write("wait", 0));
        await expectPending(w);
        const r = await client(ep);
        expect(await r.call(F.input("p"))).toBe(F.INPUT_OK);
        expect(await w.recvHex()).toBe(F.WRITE_OK);
        expect(await r.call(F.read(4, 0))).toBe(F.readOk("wait"));
      });
    });

    describe("timeouts", () => {
      it("treats a timeout beyond what a Node timer holds (up to 2^32-1 ms) as long, not as 1 ms", async () => {
        const ep = await start();
        const w = await client(ep);
        expect(await w.call(F.output("p"))).toBe(F.OUTPUT_OK);
        await w.send(F.write("x", 0xffffffff));
        await new Promise((res) => setTimeout(res, 50));
        await expectPending(w);
      });
    });

    describe("WRITE after the reader closed", () => {
      it("is WRITE_FAILED", async () => {
        const { w, r } = await pair(await start());
        expect(await w.call(F.write("x", 0))).toBe(F.WRITE_OK);
        expect(await r.call(F.close)).toBe(F.CLOSE_OK);
        expect(await w.call(F.write("y", 0))).toBe(F.writeFailed("reader closed"));
        expect(await w.call(F.write("z", 100))).toBe(F.writeFailed("reader closed"));
        expect(broker?.stats().heldBytes).toBe(0);
      });

      it("fails a WRITE that was waiting when the reader closes", async () => {
        const { w, r } = await pair(await start({ budget: 2 }));
        expect(await w.call(F.write("ab", 0))).toBe(F.WRITE_OK);
        await w.send(F.write("cd", 0));
        await expectPending(w);
        expect(await r.call(F.close)).toBe(F.CLOSE_OK);
        expect(await w.recvHex()).toBe(F.writeFailed("reader closed"));
      });
    });

    describe("second reader or second writer on a pipe", () => {
      it("is INPUT_FAILED / OUTPUT_FAILED, and the first ones keep working", async () => {
        const ep = await start();
        const { w, r } = await pair(ep);
        const r2 = await client(ep);
        const w2 = await client(ep);
        expect(await r2.call(F.input("p"))).toBe(F.inputFailed("pipe 'p' already has a reader"));
        expect(await w2.call(F.output("p"))).toBe(F.outputFailed("pipe 'p' already has a writer"));
        // A failed open leaves the client able to open something else.
        expect(await r2.call(F.input("q"))).toBe(F.INPUT_OK);
        expect(await w.call(F.write("ok", 0))).toBe(F.WRITE_OK);
        expect(await r.call(F.read(2, 0))).toBe(F.readOk("ok"));
      });
    });

    describe("writer closes", () => {
      it("the reader keeps its queued data, and a pending READ gets a short READ_OK", async () => {
        const { w, r } = await pair(await start());
        expect(await w.call(F.write("abc", 0))).toBe(F.WRITE_OK);
        await r.send(F.read(10, 0));
        await expectPending(r);
        expect(await w.call(F.close)).toBe(F.CLOSE_OK);
        expect(await r.recvHex()).toBe(F.readOk("abc"));
      });

      it("a pending READ with nothing queued gets READ_END", async () => {
        const { w, r } = await pair(await start());
        await r.send(F.read(10, 0));
        await expectPending(r);
        expect(await w.call(F.close)).toBe(F.CLOSE_OK);
        expect(await r.recvHex()).toBe(F.READ_END);
      });

      it("a new writer of that name starts a fresh pipe", async () => {
        const ep = await start();
        const { w, r } = await pair(ep);
        expect(await w.call(F.write("old", 0))).toBe(F.WRITE_OK);
        expect(await w.call(F.close)).toBe(F.CLOSE_OK);
        const w2 = await client(ep);
        expect(await w2.call(F.output("p"))).toBe(F.OUTPUT_OK);
        // The new pipe has no reader: the old reader is not attached to it.
        expect(await w2.call(F.write("new", 50))).toBe(F.WRITE_TIMEOUT);
        expect(await r.call(F.read(10, 0))).toBe(F.readOk("old"));
        expect(await r.call(F.read(10, 0))).toBe(F.READ_END);
        // The old reader closes and reopens: now it is the new pipe's reader.
        expect(await r.call(F.close)).toBe(F.CLOSE_OK);
        expect(await r.call(F.input("p"))).toBe(F.INPUT_OK);
        expect(await w2.call(F.write("new", 0))).toBe(F.WRITE_OK);
        expect(await r.call(F.read(3, 0))).toBe(F.readOk("new"));
      });
    });

    describe("CLOSE while a call is pending", () => {
      it("READ pending: READ_FAILED, then CLOSE_OK", async () => {
        const { r } = await pair(await start());
        await r.send(F.read(4, 0));
        await expectPending(r);
        await r.send(F.close);
        expect(await r.recvHex()).toBe(F.readFailed("pipe closed"));
        expect(await r.recvHex()).toBe(F.CLOSE_OK);
      });

      it("WRITE pending: WRITE_FAILED, then CLOSE_OK", async () => {
        const ep = await start();
        const w = await client(ep);
        expect(await w.call(F.output("p"))).toBe(F.OUTPUT_OK);
        await w.send(F.write("x", 0));
        await expectPending(w);
        await w.send(F.close);
        expect(await w.recvHex()).toBe(F.writeFailed("pipe closed"));
        expect(await w.recvHex()).toBe(F.CLOSE_OK);
        expect(broker?.stats().heldBytes).toBe(0);
      });
    });

    describe("a command the current state cannot take", () => {
      it("is INVALID before opening: READ, WRITE, CLOSE, and replies sent as commands", async () => {
        const c = await client(await start());
        expect(await c.call(F.read(1, 0))).toBe(F.INVALID);
        expect(await c.call(F.write("x", 0))).toBe(F.INVALID);
        expect(await c.call(F.close)).toBe(F.INVALID);
        expect(await c.call(F.OUTPUT_OK)).toBe(F.INVALID);
        expect(await c.call(F.ping)).toBe(F.PING_OK);
        expect(await c.call(F.input("still-works"))).toBe(F.INPUT_OK);
      });

      it("is INVALID for READ while writing and WRITE while reading, without changing state", async () => {
        const { w, r } = await pair(await start());
        expect(await w.call(F.read(1, 0))).toBe(F.INVALID);
        expect(await r.call(F.write("x", 0))).toBe(F.INVALID);
        expect(await w.call(F.write("ok", 0))).toBe(F.WRITE_OK);
        expect(await r.call(F.read(2, 0))).toBe(F.readOk("ok"));
      });

      it("is INVALID for INPUT/OUTPUT while already reading or writing (the original leaves a dangling pointer)", async () => {
        const { w, r } = await pair(await start());
        expect(await r.call(F.input("other"))).toBe(F.INVALID);
        expect(await r.call(F.output("other"))).toBe(F.INVALID);
        expect(await w.call(F.output("other"))).toBe(F.INVALID);
        expect(await w.call(F.input("p"))).toBe(F.INVALID);
        expect(broker?.registry.get("other")).toBeUndefined();
        expect(await w.call(F.write("fine", 0))).toBe(F.WRITE_OK);
        expect(await r.call(F.read(4, 0))).toBe(F.readOk("fine"));
      });
    });

    describe("a client silent for the expiry time", () => {
      it("has its pipe closed silently: the writer then fails, the reader's session is gone", async () => {
        const { w, r } = await pair(await start({ expiry: 150 }));
        expect(await w.call(F.write("x", 0))).toBe(F.WRITE_OK);
        // The writer keeps itself alive with PINGs while the reader stays silent.
        const deadline = Date.now() + 3000;
        let reply = F.WRITE_OK;
        while (reply === F.WRITE_OK && Date.now() < deadline) {
          await new Promise((res) => setTimeout(res, 40));
          reply = await w.call(F.write("y", 0));
        }
        expect(reply).toBe(F.writeFailed("reader closed"));
        expect(r.pending).toBe(0); // nothing was sent to the expired reader
        expect(await r.call(F.read(1, 0))).toBe(F.INVALID); // it comes back as a new client
        expect(log.entries.some((e) => e.event === "client-expired")).toBe(true);
      });
    });

    describe("where the original fails and vtx must not", () => {
      const bad: [string, string, string][] = [
        ["a bad signature", "bbbb13", "ZPIPES_BAD_SIGNATURE"],
        ["an unknown id", "aaa063", "ZPIPES_UNKNOWN_ID"],
        ["a truncated field", "aaa00700", "ZPIPES_TRUNCATED"],
        ["an empty frame", "", "ZPIPES_TRUNCATED"],
        ["a chunk longer than the bound", "aaa00cffffffff00", "ZPIPES_CHUNK_TOO_LONG"],
        ["a WRITE cut inside its chunk", "aaa00c0000001000", "ZPIPES_TRUNCATED"],
      ];
      for (const [what, frame, code] of bad) {
        it(`answers INVALID to ${what}, logs it, and keeps serving everyone`, async () => {
          const ep = await start();
          const { w, r } = await pair(ep);
          const evil = await client(ep);
          expect(await evil.call(hexBytes(frame))).toBe(F.INVALID);
          expect(log.entries.find((e) => e.event === "bad-input")?.fields.code).toBe(code);
          expect(await evil.call(F.ping)).toBe(F.PING_OK);
          expect(await w.call(F.write("on", 0))).toBe(F.WRITE_OK);
          expect(await r.call(F.read(2, 0))).toBe(F.readOk("on"));
          // A bad frame from a client in the middle of a transfer leaves its state alone.
          expect(await w.call(hexBytes(frame))).toBe(F.INVALID);
          expect(await w.call(F.write("go", 0))).toBe(F.WRITE_OK);
          expect(await r.call(F.read(2, 0))).toBe(F.readOk("go"));
        });
      }

      it("answers INVALID to a REQ-style envelope (an empty delimiter frame is not ZPIPES)", async () => {
        const ep = await start();
        const c = await client(ep);
        await c.dealer.send([Buffer.alloc(0), hexBytes(F.ping)]);
        expect(await c.recvHex()).toBe(F.INVALID);
        expect(await c.call(F.ping)).toBe(F.PING_OK);
      });

      it("serves a reader blocked in READ when the writer opens (the original crashes)", async () => {
        const ep = await start();
        const r = await client(ep);
        expect(await r.call(F.input("p"))).toBe(F.INPUT_OK);
        await r.send(F.read(5, 0));
        await expectPending(r);
        const w = await client(ep);
        expect(await w.call(F.output("p"))).toBe(F.OUTPUT_OK);
        expect(await w.call(F.write("hello", 0))).toBe(F.WRITE_OK);
        expect(await r.recvHex()).toBe(F.readOk("hello"));
      });

      it("keeps a pending READ's timeout across a PING (the original loses it)", async () => {
        const { r } = await pair(await start());
        const t0 = Date.now();
        await r.send(F.read(5, 150));
        expect(await r.call(F.ping)).toBe(F.PING_OK);
        expect(await r.recvHex()).toBe(F.READ_TIMEOUT);
        expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
      });

      it("answers pipelined calls in order", async () => {
        const { w, r } = await pair(await start({ budget: 4 }));
        for (const part of ["aa", "bb", "cc", "dd"]) await w.send(F.write(part, 0));
        for (let i = 0; i < 4; i++) await r.send(F.read(2, 0));
        const got: string[] = [];
        for (let i = 0; i < 4; i++) got.push(await r.recvHex());
        expect(got).toEqual(["aa", "bb", "cc", "dd"].map(F.readOk));
        for (let i = 0; i < 4; i++) expect(await w.recvHex()).toBe(F.WRITE_OK);
      });

      it("gives pending calls *_FAILED when the broker stops", async () => {
        const ep = await start();
        const { w, r } = await pair(ep);
        const w2 = await client(ep);
        expect(await w2.call(F.output("lonely"))).toBe(F.OUTPUT_OK);
        await r.send(F.read(5, 0));
        await w2.send(F.write("x", 0));
        await expectPending(r);
        await expectPending(w2);
        await broker?.stop();
        broker = null;
        expect(await r.recvHex()).toBe(F.readFailed("broker shutting down"));
        expect(await w2.recvHex()).toBe(F.writeFailed("broker shutting down"));
        expect(w.pending).toBe(0);
      });
    });

    describe("memory bounds", () => {
      it("answers calls pipelined past maxPipelined with *_FAILED in their turn", async () => {
        const ep = await start({ maxPipelined: 2 });
        const w = await client(ep);
        expect(await w.call(F.output("p"))).toBe(F.OUTPUT_OK);
        for (const d of ["a", "b", "c", "d"]) await w.send(F.write(d, 0)); // no reader: the first waits, two queue, one is over
        await expectPending(w);
        await w.send(F.close);
        expect(await w.recvHex()).toBe(F.writeFailed("pipe closed"));
        expect(await w.recvHex()).toBe(F.writeFailed("pipe closed"));
        expect(await w.recvHex()).toBe(F.writeFailed("pipe closed"));
        expect(await w.recvHex()).toBe(F.writeFailed("too many pipelined calls"));
        expect(await w.recvHex()).toBe(F.CLOSE_OK);
        expect(broker?.stats().heldBytes).toBe(0);
      });

      it("answers WRITE_FAILED when the broker-wide cap on held bytes would be passed", async () => {
        const { w, r } = await pair(await start({ maxMemory: 8 }));
        expect(await w.call(F.write("12345678", 0))).toBe(F.WRITE_OK);
        expect(await w.call(F.write("9", 0))).toBe(F.writeFailed("broker memory full"));
        expect(await r.call(F.read(8, 0))).toBe(F.readOk("12345678"));
        expect(await w.call(F.write("9", 0))).toBe(F.WRITE_OK);
      });
    });

    describe("shutdown with a plugin-held pipe end (the cluster seam)", () => {
      it("fails a pending READ with READ_FAILED before a bridge-held writer leaves, never a false READ_END", async () => {
        const ep = await start();
        const bridge = { label: "bridge", pipeChanged() {} };
        const opened = broker?.registry.openWriter("p", bridge);
        expect(opened?.ok).toBe(true);
        const r = await client(ep);
        expect(await r.call(F.input("p"))).toBe(F.INPUT_OK);
        await r.send(F.read(10, 0));
        await expectPending(r);
        broker?.quiesce(); // what zbroker does on TERM before stopping plugins
        if (opened?.ok) opened.pipe.detachWriter(); // the plugin's bridge leaves
        expect(await r.recvHex()).toBe(F.readFailed("broker shutting down"));
        await broker?.stop();
        broker = null;
        expect(r.pending).toBe(0);
      });
    });

    describe("the slow path through the machine", () => {
      it("gives the same replies with the fast path off", async () => {
        const { w, r } = await pair(await start({ fastPath: false }));
        expect(await w.call(F.write("hello", 0))).toBe(F.WRITE_OK);
        expect(await r.call(F.read(3, 0))).toBe(F.readOk("hel"));
        expect(await w.call(F.read(3, 0))).toBe(F.INVALID);
        expect(await r.call(F.write("x", 0))).toBe(F.INVALID);
        expect(await w.call(F.close)).toBe(F.CLOSE_OK);
        expect(await r.call(F.read(3, 0))).toBe(F.readOk("lo"));
        expect(await r.call(F.read(3, 0))).toBe(F.READ_END);
      });
    });

    describe("endpoints", () => {
      it("binds extra endpoints given in the options", async () => {
        await start({ endpoints: ["tcp://127.0.0.1:*"] });
        const tcp = broker?.endpoints[1] as string;
        expect(tcp).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
        const c = await client(tcp);
        expect(await c.call(F.ping)).toBe(F.PING_OK);
      });
    });
  });
}
