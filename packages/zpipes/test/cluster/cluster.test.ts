import { afterEach, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { ZpipesBroker } from "../../src/broker/index.js";
import { ZpipesClient } from "../../src/client/index.js";
import { Cluster } from "../../src/cluster/cluster.js";
import { memoryLogger } from "../../src/log.js";
import { isVtxError } from "@vtx/runtime/errors";
import { decode, encode, FRAME } from "../../src/codec/index.js";
import { RawClient } from "../helpers/raw-client.js";

// Two brokers in this process, each with its own ZRE node (gossip on
// loopback, no UDP), clients connected over tcp on loopback.
const fast = { evasiveMs: 300, expiredMs: 1500 };

interface Site {
  broker: ZpipesBroker;
  cluster: Cluster;
  endpoint: string;
}
const sites: Site[] = [];
const clients: ZpipesClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close(500).catch(() => undefined)));
  for (const s of sites.splice(0)) {
    await s.cluster.stop();
    await s.broker.stop();
  }
});

async function site(name: string, gossip: string[], budget = 1024 * 1024, window = 2 * 1024 * 1024, maxInbound?: number): Promise<Site> {
  const logger = memoryLogger();
  const broker = new ZpipesBroker({ name, noDefaultEndpoint: true, endpoints: ["tcp://127.0.0.1:*"], budget, logger });
  await broker.start();
  const cluster = new Cluster({ registry: broker.registry, zre: { name, gossip, ...fast }, window, announceMs: 200, logger, ...(maxInbound ? { maxInbound } : {}) });
  await cluster.start();
  const s = { broker, cluster, endpoint: broker.endpoints[0]! };
  sites.push(s);
  return s;
}

async function pair(budget?: number, window?: number, maxInbound?: number): Promise<[Site, Site]> {
  const a = await site("a", [], budget, window, maxInbound);
  const b = await site("b", [a.cluster.node.endpoint], budget, window, maxInbound);
  await waitUntil("brokers see each other in ZPIPES", () => a.cluster.stats().peers === 1 && b.cluster.stats().peers === 1);
  return [a, b];
}

async function waitUntil(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function open(kind: "reader" | "writer", s: Site, pipe: string): Promise<ZpipesClient> {
  const c = kind === "reader" ? await ZpipesClient.openReader(pipe, { endpoint: s.endpoint }) : await ZpipesClient.openWriter(pipe, { endpoint: s.endpoint });
  clients.push(c);
  return c;
}

/** Deterministic stream: chunk i is filled from a counter, so any byte can be checked. */
function chunk(i: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let o = 0; o + 4 <= size; o += 4) b.writeUInt32BE((i * size + o) >>> 0, o);
  return b;
}

/**
 * Writes chunk i filled with i & 0xff towards a reader that does not read,
 * until a write times out (bounded: 1000 writes); returns the bytes accepted.
 */
async function fillUntilFull(writer: ZpipesClient, size: number): Promise<number> {
  let accepted = 0;
  for (let i = 0; i < 1000; i++) {
    try {
      await writer.write(Buffer.alloc(size, i & 0xff), 300);
      accepted += size;
    } catch (err) {
      expect(isVtxError(err, "ZPIPES_TIMEOUT")).toBe(true);
      return accepted;
    }
  }
  throw new Error("the pipe never filled");
}

/** Reads `bytes` back from a pipe filled by {@link fillUntilFull}, checking each chunk's fill; bounded by 1000 reads. */
async function readFilled(reader: ZpipesClient, bytes: number, size: number): Promise<number> {
  let got = 0;
  for (let i = 0; got < bytes && i < 1000; i++) {
    const c = await reader.read(size, 5000);
    expect(c).not.toBeNull();
    expect(c!.every((x) => x === (Math.floor(got / size) & 0xff))).toBe(true);
    got += c!.length;
  }
  return got;
}

/** Settles to "pending" if `p` has not settled within `ms` (a bound on a negative check, not a wait for an event). */
function stillPendingAfter(p: Promise<unknown>, ms: number): Promise<string> {
  return Promise.race([p.then(() => "resolved", () => "rejected"), new Promise<string>((r) => setTimeout(() => r("pending"), ms))]);
}

describe("ZPIPES cluster (two brokers, one process)", () => {
  it("a writer on one broker and a reader on the other exchange 16 MiB in order (sha256 both ends)", async () => {
    const [a, b] = await pair();
    const reader = await open("reader", b, "p1");
    const writer = await open("writer", a, "p1");
    const n = 256;
    const size = 64 * 1024;
    const wHash = createHash("sha256");
    const writing = (async () => {
      for (let i = 0; i < n; i++) {
        const c = chunk(i, size);
        wHash.update(c);
        await writer.write(c, 0);
      }
      await writer.close();
    })();
    const rHash = createHash("sha256");
    let total = 0;
    for (let guard = 0; guard < 10 * n; guard++) {
      const got = await reader.read(size, 5000);
      if (got === null) break;
      rHash.update(got);
      total += got.length;
    }
    await writing;
    expect(total).toBe(n * size);
    expect(rHash.digest("hex")).toBe(wHash.digest("hex"));
    await waitUntil("transfer forgotten on both brokers", () => a.cluster.stats().outgoing === 0 && b.cluster.stats().incoming === 0);
  });

  it("matches whichever end opens first (writer first, then the reader elsewhere)", async () => {
    const [a, b] = await pair();
    const writer = await open("writer", a, "p2");
    const w = writer.write(Buffer.from("hello over the cluster"), 0);
    const reader = await open("reader", b, "p2");
    await w;
    expect((await reader.read(5, 5000))?.toString()).toBe("hello");
    await writer.close();
    expect((await reader.read(100, 5000))?.toString()).toBe(" over the cluster");
    expect(await reader.read(100, 5000)).toBeNull();
  });

  it("credit bounds what the brokers hold: a reader that stops reading stops the writer after budget + window", async () => {
    const budget = 256 * 1024;
    const window = 512 * 1024;
    const [a, b] = await pair(budget, window);
    const reader = await open("reader", b, "slow");
    const writer = await open("writer", a, "slow");
    const size = 32 * 1024;
    // The reader never reads: writes are accepted until both pipes and the
    // credit are full, then one times out.
    const accepted = await fillUntilFull(writer, size);
    // A's pipe (budget) + in flight (window) + B's pipe (budget), plus one chunk of slack per stage.
    expect(accepted).toBeGreaterThanOrEqual(budget + window);
    expect(accepted).toBeLessThanOrEqual(budget + window + budget + 3 * size);
    expect(a.broker.stats().heldBytes + b.broker.stats().heldBytes).toBeLessThanOrEqual(budget + window + budget + 3 * size);
    // Everything accepted is then delivered, in order.
    expect(await readFilled(reader, accepted, size)).toBe(accepted);
  });

  it("maxInbound bounds concurrent incoming transfers: a second pipe waits until the first ends, then flows", async () => {
    const window = 1024 * 1024;
    const [a, b] = await pair(undefined, window, window);
    const r1 = await open("reader", b, "q1");
    const r2 = await open("reader", b, "q2");
    const w1 = await open("writer", a, "q1");
    await w1.write(Buffer.from("one"), 0);
    expect((await r1.read(3, 5000))?.toString()).toBe("one");
    const w2 = await open("writer", a, "q2");
    // q2 is not offered while q1 holds the only slot: its write finds no reader.
    await expect(w2.write(Buffer.from("two"), 600)).rejects.toMatchObject({ code: "ZPIPES_TIMEOUT" });
    expect(b.cluster.stats().incoming).toBe(1);
    await w1.close();
    expect(await r1.read(3, 5000)).toBeNull();
    await w2.write(Buffer.from("two"), 5000);
    expect((await r2.read(3, 5000))?.toString()).toBe("two");
  });

  it("the reader closing mid-transfer makes the writer's next call fail", async () => {
    const [a, b] = await pair();
    const reader = await open("reader", b, "p3");
    const writer = await open("writer", a, "p3");
    await writer.write(Buffer.alloc(1000, 1), 0);
    expect((await reader.read(1000, 5000))?.length).toBe(1000);
    await reader.close();
    let failure: unknown;
    for (let i = 0; i < 1000 && failure === undefined; i++) {
      try {
        await writer.write(Buffer.alloc(1000, 2), 2000);
      } catch (err) {
        failure = err;
      }
    }
    expect(isVtxError(failure, "ZPIPES_FAILED")).toBe(true);
  });

  it("a writer on a third broker loses the race cleanly: its write times out (no reader for it), the first transfer is untouched", async () => {
    const [a, b] = await pair();
    const c = await site("c", [a.cluster.node.endpoint, b.cluster.node.endpoint]);
    await waitUntil("three brokers", () => c.cluster.stats().peers === 2 && a.cluster.stats().peers === 2);
    const reader = await open("reader", b, "p4");
    const w1 = await open("writer", a, "p4");
    await w1.write(Buffer.from("first"), 0);
    expect((await reader.read(5, 5000))?.toString()).toBe("first");
    const w2 = await open("writer", c, "p4");
    // c announces its writer; b has a writer already, so c never gets a reader:
    // its write times out (no reader), as with a local pipe that has none.
    await expect(w2.write(Buffer.from("second"), 500)).rejects.toMatchObject({ code: "ZPIPES_TIMEOUT" });
    await w1.write(Buffer.from("more"), 0);
    expect((await reader.read(4, 5000))?.toString()).toBe("more");
  });

  it("a writer's CLOSE is answered once its chunks are on the reader's broker: CLOSE_OK means delivered", async () => {
    const budget = 256 * 1024;
    const window = 256 * 1024;
    const [a, b] = await pair(budget, window);
    const reader = await open("reader", b, "c1");
    const writer = await open("writer", a, "c1");
    const size = 32 * 1024;
    const accepted = await fillUntilFull(writer, size);
    // Broker A still holds chunks that B has no room for: CLOSE waits.
    const closing = writer.close(20_000);
    expect(await stillPendingAfter(closing, 300)).toBe("pending");
    const got = await readFilled(reader, accepted, size);
    await closing; // resolves: everything reached B
    expect(got).toBe(accepted);
    expect(await reader.read(size, 5000)).toBeNull();
  });

  it("the link lost while a writer's CLOSE waits for delivery: CLOSE_FAILED, and close() rejects with ZPIPES_FAILED", async () => {
    const budget = 256 * 1024;
    const window = 256 * 1024;
    const [a, b] = await pair(budget, window);
    const reader = await open("reader", b, "c2");
    const writer = await open("writer", a, "c2");
    await fillUntilFull(writer, 32 * 1024);
    const closing = writer.close(20_000);
    const outcome = closing.then(
      () => null,
      (err: unknown) => err,
    );
    expect(await stillPendingAfter(closing, 300)).toBe("pending");
    // B goes away before its reader took anything: what A still holds can never arrive.
    await b.cluster.stop();
    sites.splice(sites.indexOf(b), 1);
    await b.broker.stop();
    const err = await outcome;
    expect(isVtxError(err, "ZPIPES_FAILED")).toBe(true);
    expect((err as Error).message).toMatch(/close failed: not delivered/);
    expect(writer.closed).toBe(true);
    void reader;
  });

  it("a writer with a reader on its own broker still gets CLOSE_OK at once (the broker holds the data)", async () => {
    const [a] = await pair();
    const reader = await open("reader", a, "c3");
    const writer = await open("writer", a, "c3");
    await writer.write(Buffer.from("kept"), 0);
    await writer.close(2000);
    expect((await reader.read(4, 5000))?.toString()).toBe("kept");
    expect(await reader.read(4, 5000)).toBeNull();
  });

  it("while a writer's CLOSE waits, PING is answered at once and later replies queue behind CLOSE_OK (raw DEALER)", async () => {
    const budget = 256 * 1024;
    const [a, b] = await pair(budget, budget);
    const reader = await open("reader", b, "c4");
    const raw = await RawClient.connect(a.endpoint);
    try {
      const type = async (timeoutMs?: number): Promise<string> => decode(await raw.recv(timeoutMs)).type;
      await raw.send(encode({ type: "OUTPUT", pipename: "c4" }));
      expect(await type(5000)).toBe("OUTPUT_OK");
      let accepted = 0;
      for (let i = 0; i < 1000; i++) {
        await raw.send(encode({ type: "WRITE", chunk: Buffer.alloc(32 * 1024, 7), timeout: 300 }));
        const t = await type(5000);
        if (t === "WRITE_TIMEOUT") break;
        expect(t).toBe("WRITE_OK");
        accepted += 32 * 1024;
      }
      await raw.send(FRAME.CLOSE);
      await raw.send(FRAME.PING);
      await raw.send(encode({ type: "OUTPUT", pipename: "c5" }));
      expect(await type(5000)).toBe("PING_OK");
      expect(await stillPendingAfter(raw.recv(300), 500)).toBe("rejected"); // nothing else yet: CLOSE waits for B
      let got = 0;
      while (got < accepted) got += (await reader.read(32 * 1024, 5000))?.length ?? Infinity;
      expect(got).toBe(accepted);
      expect(await type(5000)).toBe("CLOSE_OK");
      expect(await type(5000)).toBe("OUTPUT_OK");
    } finally {
      raw.close();
    }
  });
});
