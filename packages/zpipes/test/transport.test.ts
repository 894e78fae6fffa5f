/**
 * The direct transport: the broker's ROUTER and the client's DEALER speaking
 * ZMTP 3.1 themselves over node:net (no libzmq) on tcp:// and ipc://.
 *
 * - endpoint parsing (which endpoints are served directly);
 * - every pairing of direct and libzmq ends on tcp://, and on abstract ipc://
 *   names (which node and libzmq cannot reach in each other's form, so the
 *   broker serves both and the client falls back to libzmq);
 * - a lost direct connection fails the client at once (ZPIPES_NO_BROKER);
 * - bad peers on the direct ROUTER (silent, garbage, oversized, not reading)
 *   are dropped with a logged code while the others are served;
 * - Debian's libzmq (python3-zmq) against the direct ROUTER, byte for byte.
 *
 * Traffic stays on 127.0.0.1 (and abstract unix names).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as net from "node:net";
import { fileURLToPath } from "node:url";
import { encodeCommandFrame, encodeGreeting, encodeMessage, encodeMetadata, encodeReady } from "@vtx/runtime/zmtp/index";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import * as zmq from "zeromq";
import { ZpipesBroker, type BrokerOptions } from "../src/broker/index.js";
import { ZpipesClient, type ZpipesClientOptions } from "../src/client/index.js";
import { memoryLogger } from "../src/log.js";
import { DirectDealer } from "../src/transport/direct-dealer.js";
import { DirectRouter } from "../src/transport/direct-router.js";
import { brokerSlabPool, ZmtpConnection } from "../src/transport/zmtp-connection.js";
import { decode, encode } from "../src/codec/index.js";
import { abstractNeedsLibzmq, directBindAddress, directConnectAddress, formatEndpoint, type DirectAddress } from "../src/transport/endpoint.js";
import { F, RawClient, hexBytes, uniqueName } from "./helpers/raw-client.js";
import { codeOf, within } from "./helpers/promises.js";

const ZBROKER = fileURLToPath(new URL("../dist/cli/zbroker.js", import.meta.url));

type MemoryLog = ReturnType<typeof memoryLogger>;

const brokers: ZpipesBroker[] = [];
const clients: ZpipesClient[] = [];
const raws: RawClient[] = [];
const dealers: zmq.Dealer[] = [];
const sockets: net.Socket[] = [];
const procs: ChildProcess[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  for (const s of sockets.splice(0)) s.destroy();
  for (const d of dealers.splice(0)) if (!d.closed) d.close();
  for (const r of raws.splice(0)) r.close();
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  for (const c of clients.splice(0)) await c.close(500).catch(() => undefined);
  for (const b of brokers.splice(0)) await b.stop();
});

// ── helpers ────────────────────────────────────────────────────────────────

/** Polls the log for an entry (log lines have no event to await); fails clearly after `ms`. */
async function logEntry(log: MemoryLog, what: string, pred: (e: MemoryLog["entries"][number]) => boolean, ms = 5000): Promise<MemoryLog["entries"][number]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = log.entries.find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`no log entry ${what} within ${ms} ms; log: ${JSON.stringify(log.entries.slice(-10))}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function startBroker(options: BrokerOptions = {}): Promise<ZpipesBroker> {
  const b = new ZpipesBroker({ name: uniqueName("tr"), ...options });
  brokers.push(b);
  await b.start();
  return b;
}

/** A broker bound only on tcp://127.0.0.1:* (ephemeral port); resolves with it and its endpoint. */
async function tcpBroker(options: BrokerOptions = {}): Promise<{ broker: ZpipesBroker; endpoint: string }> {
  const broker = await startBroker({ noDefaultEndpoint: true, endpoints: ["tcp://127.0.0.1:*"], ...options });
  const endpoint = broker.endpoints[0]!;
  expect(endpoint).toMatch(/^tcp:\/\/127\.0\.0\.1:[1-9][0-9]*$/);
  return { broker, endpoint };
}

async function openWriter(pipe: string, options: ZpipesClientOptions): Promise<ZpipesClient> {
  const c = await ZpipesClient.openWriter(pipe, options);
  clients.push(c);
  return c;
}

async function openReader(pipe: string, options: ZpipesClientOptions): Promise<ZpipesClient> {
  const c = await ZpipesClient.openReader(pipe, options);
  clients.push(c);
  return c;
}

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** Chunk sizes around the frame-header boundary (255/256), the 32 KiB by-reference threshold and beyond. */
const CHUNK_SIZES = [1, 255, 256, 4096, 32 * 1024 - 1, 32 * 1024, 40_000, 1024 * 1024, 333_333];

/**
 * Writer and reader at once on `pipe`: `total` random bytes in chunks of
 * `sizes` (CHUNK_SIZES), the reader reading until the end; checksums compared.
 */
async function transfer(
  writerOptions: ZpipesClientOptions,
  readerOptions: ZpipesClientOptions,
  total = 3 * 1024 * 1024 + 12_345,
  pipe = "data",
  sizes: readonly number[] = CHUNK_SIZES,
): Promise<void> {
  const data = randomBytes(total);
  const w = await openWriter(pipe, writerOptions);
  const r = await openReader(pipe, readerOptions);
  const writing = (async () => {
    for (let at = 0, i = 0; at < total; i++) {
      const n = Math.min(sizes[i % sizes.length]!, total - at);
      // Every other chunk as parts: header-less gather on the direct path.
      const chunk = data.subarray(at, at + n);
      await w.write(i % 2 === 0 ? chunk : [chunk.subarray(0, n >> 1), chunk.subarray(n >> 1)]);
      at += n;
    }
    await w.close();
  })();
  const reading = (async () => {
    const got: Buffer[] = [];
    for (;;) {
      const b = await r.read(100_000);
      if (b === null) return Buffer.concat(got);
      got.push(b);
    }
  })();
  const [, got] = await within(Promise.all([writing, reading]), 30_000, `${total} bytes through pipe '${pipe}'`);
  expect(got.length).toBe(total);
  expect(sha(got)).toBe(sha(data));
}

/** The raw bytes a NULL-mechanism DEALER sends to open a ZMTP 3.1 connection. */
function dealerHandshake(): Buffer {
  return Buffer.concat([encodeGreeting({ mechanism: "NULL", asServer: false }), encodeCommandFrame(encodeReady(encodeMetadata([["Socket-Type", "DEALER"]])))]);
}

/** A node:net socket to a tcp:// endpoint, destroyed after the test. */
async function rawSocket(endpoint: string): Promise<net.Socket> {
  const m = /^tcp:\/\/([^:]+):(\d+)$/.exec(endpoint);
  if (!m) throw new Error(`not a tcp endpoint: ${endpoint}`);
  const s = net.connect({ host: m[1]!, port: Number(m[2]) });
  sockets.push(s);
  s.on("error", () => undefined);
  await within(new Promise<void>((resolve) => s.once("connect", () => resolve())), 3000, `connect to ${endpoint}`);
  return s;
}

/** Resolves when the socket is closed (both ways); the socket is read (and what comes discarded) meanwhile. */
function closedOf(s: net.Socket): Promise<void> {
  // Reading is what lets the end of the stream (and so "close") arrive.
  s.resume();
  return s.destroyed && s.closed ? Promise.resolve() : new Promise<void>((resolve) => s.once("close", () => resolve()));
}

// ── endpoint parsing ─────────────────────────────────────────────────────────

describe("endpoint parsing", () => {
  const ipc = (path: string): DirectAddress => ({ kind: "ipc", path });
  const tcp = (host: string | undefined, port: number): DirectAddress => ({ kind: "tcp", host, port });
  // [endpoint, as bound, as connected to]
  const table: [string, DirectAddress | undefined, DirectAddress | undefined][] = [
    ["ipc://@name", ipc("\0name"), ipc("\0name")],
    ["ipc://@/zpipes/local", ipc("\0/zpipes/local"), ipc("\0/zpipes/local")],
    ["ipc:///tmp/x", ipc("/tmp/x"), ipc("/tmp/x")],
    ["ipc://relative.sock", ipc("relative.sock"), ipc("relative.sock")],
    ["ipc://", undefined, undefined],
    ["ipc://*", undefined, undefined],
    ["ipc://@a\0b", undefined, undefined],
    ["tcp://127.0.0.1:5555", tcp("127.0.0.1", 5555), tcp("127.0.0.1", 5555)],
    ["tcp://127.0.0.1:1", tcp("127.0.0.1", 1), tcp("127.0.0.1", 1)],
    ["tcp://127.0.0.1:65535", tcp("127.0.0.1", 65535), tcp("127.0.0.1", 65535)],
    ["tcp://127.0.0.1:*", tcp("127.0.0.1", 0), undefined],
    ["tcp://127.0.0.1:0", tcp("127.0.0.1", 0), undefined],
    ["tcp://*:*", tcp(undefined, 0), undefined],
    ["tcp://*:5555", tcp(undefined, 5555), undefined],
    ["tcp://[::1]:0", tcp("::1", 0), undefined],
    ["tcp://[::1]:5555", tcp("::1", 5555), tcp("::1", 5555)],
    ["tcp://localhost:5555", tcp("localhost", 5555), tcp("localhost", 5555)],
    // A name: libzmq's interface-name syntax to bind, DNS to connect.
    ["tcp://example.com:80", undefined, tcp("example.com", 80)],
    ["tcp://eth0:5555", undefined, tcp("eth0", 5555)],
    ["tcp://a;b:1", undefined, undefined],
    ["tcp://127.0.0.1:5556;127.0.0.1:5555", undefined, undefined],
    ["tcp://127.0.0.1", undefined, undefined],
    ["tcp://:5555", undefined, undefined],
    ["tcp://127.0.0.1:65536", undefined, undefined],
    ["tcp://127.0.0.1:-1", undefined, undefined],
    ["tcp://127.0.0.1:0x10", undefined, undefined],
    ["tcp://127.0.0.1:", undefined, undefined],
    ["tcp://under_score:1", undefined, undefined],
    ["ws://127.0.0.1:8080", undefined, undefined],
    ["ws://127.0.0.1:8080/path", undefined, undefined],
    ["inproc://x", undefined, undefined],
    ["udp://127.0.0.1:5555", undefined, undefined],
    ["ztcp://127.0.0.1:5555", undefined, undefined],
    ["pgm://eth0;239.192.1.1:5555", undefined, undefined],
    ["TCP://127.0.0.1:5555", undefined, undefined],
    ["", undefined, undefined],
  ];

  for (const [endpoint, bind, connect] of table) {
    it(`${JSON.stringify(endpoint)}: bind → ${JSON.stringify(bind)}, connect → ${JSON.stringify(connect)}`, () => {
      expect(directBindAddress(endpoint)).toEqual(bind);
      expect(directConnectAddress(endpoint)).toEqual(connect);
      expect(DirectRouter.accepts(endpoint)).toBe(bind !== undefined);
    });
  }

  it("formats bound addresses back, resolving ephemeral ports and bracketing IPv6", () => {
    expect(formatEndpoint(directBindAddress("tcp://*:*")!, 4321)).toBe("tcp://0.0.0.0:4321");
    expect(formatEndpoint(directBindAddress("tcp://127.0.0.1:*")!, 4321)).toBe("tcp://127.0.0.1:4321");
    expect(formatEndpoint(directBindAddress("tcp://[::1]:0")!, 4321)).toBe("tcp://[::1]:4321");
    expect(formatEndpoint(directBindAddress("tcp://127.0.0.1:5555")!)).toBe("tcp://127.0.0.1:5555");
    expect(formatEndpoint(directBindAddress("ipc://@/zpipes/x")!)).toBe("ipc://@/zpipes/x");
    expect(formatEndpoint(directBindAddress("ipc:///tmp/x.sock")!)).toBe("ipc:///tmp/x.sock");
  });

  it("says which endpoints libzmq must serve too: abstract ipc:// names only", () => {
    expect(abstractNeedsLibzmq(directBindAddress("ipc://@x")!)).toBe(true);
    expect(abstractNeedsLibzmq(directBindAddress("ipc:///tmp/x")!)).toBe(false);
    expect(abstractNeedsLibzmq(directBindAddress("tcp://127.0.0.1:1")!)).toBe(false);
    expect(DirectRouter.alsoNeedsLibzmq("ipc://@x")).toBe(true);
    expect(DirectRouter.alsoNeedsLibzmq("ipc:///tmp/x")).toBe(false);
    expect(DirectRouter.alsoNeedsLibzmq("tcp://127.0.0.1:1")).toBe(false);
    expect(DirectRouter.alsoNeedsLibzmq("ws://127.0.0.1:1")).toBe(false);
  });
});

// ── direct and libzmq ends together ────────────────────────────────────────────

describe("direct and libzmq ends on tcp://", () => {
  const cases = [
    { client: true, broker: true, what: "direct DEALER ↔ direct ROUTER" },
    { client: true, broker: false, what: "direct DEALER ↔ libzmq ROUTER" },
    { client: false, broker: true, what: "libzmq DEALER ↔ direct ROUTER" },
    { client: false, broker: false, what: "libzmq DEALER ↔ libzmq ROUTER" },
  ];
  for (const c of cases) {
    it(`carries a few MiB intact: ${c.what}`, async () => {
      const bind = vi.spyOn(DirectRouter.prototype, "bind");
      const create = vi.spyOn(DirectDealer, "create");
      const { endpoint } = await tcpBroker({ direct: c.broker });
      // The broker served tcp:// itself exactly when asked to.
      expect(bind).toHaveBeenCalledTimes(c.broker ? 1 : 0);
      // A direct client is a default one (`direct` left out).
      const options: ZpipesClientOptions = { endpoint, heartbeat: 1000, ...(c.client ? {} : { direct: false }) };
      await transfer(options, options);
      // Both clients connected directly exactly when asked to (create answers undefined for endpoints it cannot serve).
      expect(create).toHaveBeenCalledTimes(c.client ? 2 : 0);
      for (const r of create.mock.results) expect(r.type === "return" && r.value !== undefined).toBe(true);
    });
  }

  it("one pipe, writer through libzmq and reader direct (and back), on a direct ROUTER", async () => {
    const { endpoint } = await tcpBroker();
    await transfer({ endpoint, direct: false }, { endpoint, direct: true }, 1024 * 1024 + 3, "mixed-1");
    await transfer({ endpoint, direct: true }, { endpoint, direct: false }, 1024 * 1024 + 3, "mixed-2");
  });
});

describe("read slabs recycled by the broker", () => {
  // The broker reads into a pool of 1 MiB slabs and takes one back once the
  // chunks it held were written to their reader (Pipe.takeReadOkParts'
  // `finished`, ZmtpConnection.send's `onWritten`). A slab taken back too
  // early would be read into while its bytes are still on their way out:
  // the checksums would differ.
  it("carries 24 MiB intact in mixed chunk and READ sizes while reusing slabs, and with readers leaving mid-pipe", async () => {
    const { endpoint } = await tcpBroker();
    const before = brokerSlabPool().stats();
    // Every chunk fits a slab (a bigger one is assembled in a buffer of its own).
    const sizes = CHUNK_SIZES.filter((n) => n < 1024 * 1024);
    await transfer({ endpoint }, { endpoint }, 24 * 1024 * 1024 + 777, "recycled-1", sizes);
    const after = brokerSlabPool().stats();
    // 24 MiB read through 1 MiB slabs, nearly all of them reused ones.
    expect(after.reused - before.reused).toBeGreaterThan(16);
    expect(after.allocated - before.allocated).toBeLessThan(16);
    // A reader that leaves with chunks queued: they are dropped (and their
    // slabs taken back); the next pipe's bytes are still intact.
    for (let round = 0; round < 3; round++) {
      const name = `recycled-left-${round}`;
      const w = await openWriter(name, { endpoint });
      const r = await openReader(name, { endpoint });
      const chunk = randomBytes(1024 * 1024);
      for (let i = 0; i < 3; i++) await within(w.write(chunk), 5000, "WRITE into the budget");
      expect((await within(r.read(1000), 5000, "first READ"))?.equals(chunk.subarray(0, 1000))).toBe(true);
      await r.close();
      await expect(w.write(chunk, 2000)).rejects.toMatchObject({ code: "ZPIPES_FAILED" });
      await transfer({ endpoint }, { endpoint }, 4 * 1024 * 1024 + round, `recycled-after-${round}`, sizes);
    }
  });
});

describe("read slabs recycled by the broker, with replies stuck in its write queue", () => {
  // The case where taking a slab back too early shows: a reader with 16
  // READs of 1 MiB pipelined stops reading its socket, so the broker's
  // READ_OKs (views of its read slabs) wait in node's write queue once the
  // kernel's buffers are full, while the writer fills the pipe again and
  // the broker reads on into slabs. Every READ_OK must still carry the
  // bytes that were written.
  it("a reader that stops reading its socket still gets every byte as written", async () => {
    const { endpoint } = await tcpBroker();
    const m = /^tcp:\/\/([^:]+):(\d+)$/.exec(endpoint)!;
    const before = brokerSlabPool().stats();
    const socket = await rawSocket(endpoint);
    const replies: Buffer[] = [];
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    const READS = 16;
    const MORE = 4;
    const READ_SIZE = 1024 * 1024;
    let wanted = 1 + READS;
    let gotThem: () => void = () => undefined;
    const repliesIn = (n: number): Promise<void> => {
      wanted = n;
      return replies.length >= n ? Promise.resolve() : new Promise<void>((r) => (gotThem = r));
    };
    const conn = new ZmtpConnection(
      socket,
      { socketType: "DEALER", handshakeTimeout: 5000, peerAddress: `${m[1]}:${m[2]}` },
      {
        ready: () => ready(),
        // Copied: the connection's read slabs are its own (no recycling on this side).
        message: (frames) => {
          replies.push(Buffer.from(frames[0]!));
          if (replies.length === wanted) gotThem();
        },
        closed: () => undefined,
      },
    );
    await within(isReady, 5000, "ZMTP handshake with the broker");
    conn.send([encode({ type: "INPUT", pipename: "stuck" })]);
    for (let i = 0; i < READS; i++) conn.send([encode({ type: "READ", size: READ_SIZE, timeout: 0 })]);
    // Once INPUT_OK is in, stop reading: what the broker sends next piles up.
    await within(
      (async () => {
        while (replies.length === 0) await new Promise((r) => setImmediate(r));
      })(),
      5000,
      "INPUT_OK",
    );
    socket.pause();
    // 64 KiB WRITEs: the broker reads them into its slabs and answers the
    // READs from them as views. The last MORE MiB go into the pipe's budget
    // (4 MiB) while the READ_OKs before them are still stuck: read into
    // slabs, which must not be ones the stuck replies view.
    const data = randomBytes((READS + MORE) * READ_SIZE);
    const w = await openWriter("stuck", { endpoint });
    for (let at = 0; at < data.length; at += 65536) await within(w.write(data.subarray(at, at + 65536)), 10_000, `WRITE at ${at}`);
    socket.resume();
    await within(repliesIn(1 + READS), 20_000, `${READS} READ_OKs`);
    for (let i = 0; i < MORE; i++) conn.send([encode({ type: "READ", size: READ_SIZE, timeout: 0 })]);
    await within(repliesIn(1 + READS + MORE), 20_000, `${MORE} more READ_OKs`);
    conn.close();
    expect(decode(replies[0]!).type).toBe("INPUT_OK");
    const got = Buffer.concat(
      replies.slice(1).map((f) => {
        const msg = decode(f);
        if (msg.type !== "READ_OK") throw new Error(`expected READ_OK, got ${msg.type}`);
        return Buffer.from(msg.chunk);
      }),
    );
    expect(got.length).toBe(data.length);
    expect(sha(got)).toBe(sha(data));
    // And slabs were taken back meanwhile (the case is real, not avoided).
    expect(brokerSlabPool().stats().reused - before.reused).toBeGreaterThan(0);
  });
});

describe("connecting directly on tcp://", () => {
  /** A tcp port on 127.0.0.1 that nothing listens on (bound then released). */
  async function freePort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen({ port: 0, host: "127.0.0.1" }, () => resolve()));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }

  it("fails with ZPIPES_NO_BROKER after connectTimeout when nothing listens", async () => {
    const endpoint = `tcp://127.0.0.1:${await freePort()}`;
    const t0 = Date.now();
    expect(await codeOf(ZpipesClient.openReader("p", { endpoint, connectTimeout: 300 }))).toBe("ZPIPES_NO_BROKER");
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(3000);
  });

  it("keeps trying while the endpoint refuses, and opens once a broker binds it", async () => {
    const port = await freePort();
    const endpoint = `tcp://127.0.0.1:${port}`;
    const opening = ZpipesClient.openReader("p", { endpoint, connectTimeout: 10_000 });
    opening.then((c) => clients.push(c), () => undefined);
    // Refused at least once before the broker is there: the client is retrying.
    const refused = await within(
      new Promise<string>((resolve) => {
        const probe = net.connect({ host: "127.0.0.1", port });
        probe.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
        probe.once("connect", () => {
          probe.destroy();
          resolve("connected");
        });
      }),
      3000,
      "a probe connection",
    );
    expect(refused).toBe("ECONNREFUSED");
    const { endpoint: bound } = await tcpBroker({ endpoints: [endpoint] });
    expect(bound).toBe(endpoint);
    const r = await within(opening, 5000, "the client to open once the broker is up");
    await r.ping();
  });
});

describe("ipc:// socket files", () => {
  it("direct and libzmq clients share a broker's socket file; a stale file is replaced, and removed at stop", async () => {
    const path = join(tmpdir(), `${uniqueName("vtx-zp")}.sock`);
    writeFileSync(path, "stale");
    const endpoint = `ipc://${path}`;
    const bind = vi.spyOn(DirectRouter.prototype, "bind");
    const broker = await startBroker({ noDefaultEndpoint: true, endpoints: [endpoint] });
    expect(broker.endpoints).toEqual([endpoint]);
    expect(bind).toHaveBeenCalledTimes(1);
    await transfer({ endpoint }, { endpoint, direct: false }, 1024 * 1024 + 5, "file-1");
    await transfer({ endpoint, direct: false }, { endpoint }, 1024 * 1024 + 5, "file-2");
    await broker.stop();
    expect(existsSync(path)).toBe(false);
  });

  it("a direct client reaches a libzmq-only broker (direct: false) on a socket file", async () => {
    const endpoint = `ipc://${join(tmpdir(), `${uniqueName("vtx-zp")}.sock`)}`;
    const bind = vi.spyOn(DirectRouter.prototype, "bind");
    await startBroker({ noDefaultEndpoint: true, endpoints: [endpoint], direct: false });
    expect(bind).not.toHaveBeenCalled();
    await transfer({ endpoint }, { endpoint }, 1024 * 1024 + 5);
  });
});

describe("abstract ipc:// names (node pads them, libzmq does not)", () => {
  /** The direct ROUTER a broker made (caught at its bind). */
  function directRouterOf(bind: { mock: { contexts: unknown[] } }): DirectRouter {
    expect(bind.mock.contexts).toHaveLength(1);
    return bind.mock.contexts[0] as DirectRouter;
  }

  it("node cannot connect to libzmq's form of an abstract name (why brokers bind both and clients fall back)", async () => {
    const broker = await startBroker({ direct: false });
    const s = net.connect({ path: `\0/zpipes/${broker.name}` });
    sockets.push(s);
    const outcome = await within(
      new Promise<string>((resolve) => {
        s.once("connect", () => resolve("connected"));
        s.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      }),
      3000,
      "node's connect to the abstract name",
    );
    expect(outcome).toBe("ECONNREFUSED");
    // libzmq itself reaches it.
    const raw = await RawClient.connect(`ipc://@/zpipes/${broker.name}`);
    raws.push(raw);
    expect(await raw.call(F.ping)).toBe(F.PING_OK);
  });

  it("a default client reaches a broker that serves its abstract name through libzmq only (direct: false): it falls back to libzmq", async () => {
    const create = vi.spyOn(DirectDealer, "create");
    const bind = vi.spyOn(DirectRouter.prototype, "bind");
    const broker = await startBroker({ direct: false });
    expect(broker.endpoints).toEqual([`ipc://@/zpipes/${broker.name}`]);
    expect(bind).not.toHaveBeenCalled();
    await transfer({ broker: broker.name }, { broker: broker.name }, 512 * 1024 + 1);
    expect(create).toHaveBeenCalledTimes(2);
  });

  it("a default client reaches a default (direct) broker under node's form of the name", async () => {
    const create = vi.spyOn(DirectDealer, "create");
    const bind = vi.spyOn(DirectRouter.prototype, "bind");
    const broker = await startBroker();
    expect(broker.endpoints).toEqual([`ipc://@/zpipes/${broker.name}`]);
    const router = directRouterOf(bind);
    const w = await openWriter("p", { broker: broker.name });
    const r = await openReader("p", { broker: broker.name });
    // Both connected to the direct ROUTER, not through the libzmq one.
    expect(router.connections).toBe(2);
    await w.write(Buffer.from("abc"));
    expect((await r.read(3))?.toString()).toBe("abc");
    await transfer({ broker: broker.name }, { broker: broker.name }, 2 * 1024 * 1024 + 1);
    expect(create).toHaveBeenCalledTimes(4);
  });

  it("a default broker also serves libzmq clients (direct: false, raw DEALERs) under libzmq's form, on the same pipes", async () => {
    const bind = vi.spyOn(DirectRouter.prototype, "bind");
    const broker = await startBroker();
    const router = directRouterOf(bind);
    const endpoint = `ipc://@/zpipes/${broker.name}`;
    const w = await openWriter("mixed-ipc", { endpoint, direct: false });
    const r = await openReader("mixed-ipc", { endpoint });
    expect(router.connections).toBe(1);
    const data = randomBytes(1024 * 1024 + 7);
    const reading = r.read(data.length);
    await w.write(data);
    expect((await within(reading, 10_000, "1 MiB from a libzmq writer to a direct reader"))?.equals(data)).toBe(true);
    const raw = await RawClient.connect(endpoint);
    raws.push(raw);
    expect(await raw.call(F.ping)).toBe(F.PING_OK);
    expect(router.connections).toBe(1);
  });

  it("a client falling back to libzmq with no broker at all still fails with ZPIPES_NO_BROKER after the connect timeout", async () => {
    const t0 = Date.now();
    expect(await codeOf(ZpipesClient.openReader("p", { broker: uniqueName("none"), connectTimeout: 300 }))).toBe("ZPIPES_NO_BROKER");
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});

// ── a lost connection ─────────────────────────────────────────────────────────

describe("a direct connection lost after open", () => {
  beforeAll(() => {
    expect(existsSync(ZBROKER), "the CLIs are not built: run `pnpm build` (tsc -b)").toBe(true);
  });

  /** zbroker in a child process, also bound on tcp://127.0.0.1:0; resolves with its tcp endpoint. */
  async function zbroker(): Promise<{ proc: ChildProcess; endpoint: string }> {
    const proc = spawn(process.execPath, [ZBROKER, uniqueName("kill"), "--endpoint", "tcp://127.0.0.1:0"], { stdio: ["ignore", "ignore", "pipe"] });
    procs.push(proc);
    let err = "";
    const started = await within(
      new Promise<{ endpoints: string[] }>((resolve, reject) => {
        proc.stderr.on("data", (d: Buffer) => {
          err += d.toString();
          const line = err.split("\n").find((l) => l.includes('"broker-started"'));
          if (line !== undefined) resolve(JSON.parse(line) as { endpoints: string[] });
        });
        proc.once("exit", (code) => reject(new Error(`zbroker exited (${code}) before it started: ${err}`)));
      }),
      10_000,
      "zbroker to start",
    );
    const endpoint = started.endpoints.find((e) => e.startsWith("tcp://"));
    expect(endpoint).toMatch(/^tcp:\/\/127\.0\.0\.1:[1-9][0-9]*$/);
    return { proc, endpoint: endpoint! };
  }

  it("fails a pending READ (timeout 0) with ZPIPES_NO_BROKER at once when the broker is killed, long before the heartbeat would", async () => {
    const { proc, endpoint } = await zbroker();
    const r = await openReader("p", { endpoint, heartbeat: 60_000 });
    const pending = codeOf(r.read(10, 0)).then((code) => ({ code, at: Date.now() }));
    await r.ping();
    const t0 = Date.now();
    proc.kill("SIGKILL");
    const failed = await within(pending, 2000, "the pending READ to fail");
    expect(failed.code).toBe("ZPIPES_NO_BROKER");
    expect(failed.at - t0).toBeLessThan(2000);
    expect(r.closed).toBe(true);
    expect(await codeOf(r.read(1))).toBe("ZPIPES_NO_BROKER");
    expect(await codeOf(r.ping())).toBe("ZPIPES_NO_BROKER");
  });

  it("fails a writer blocked in a WRITE the same way", async () => {
    const { proc, endpoint } = await zbroker();
    const w = await openWriter("p", { endpoint, heartbeat: 60_000 });
    const blocked = codeOf(w.write(Buffer.from("nobody reads this"), 0));
    await w.ping();
    proc.kill("SIGKILL");
    expect(await within(blocked, 2000, "the blocked WRITE to fail")).toBe("ZPIPES_NO_BROKER");
    expect(await codeOf(w.write(Buffer.from("x")))).toBe("ZPIPES_NO_BROKER");
  });

  it("an in-process broker stopping answers the pending READ *_FAILED first, then the lost connection fails the client (ZPIPES_NO_BROKER)", async () => {
    const { broker, endpoint } = await tcpBroker();
    const r = await openReader("p", { endpoint, heartbeat: 60_000 });
    const pending = codeOf(r.read(10, 0));
    await r.ping();
    await within(broker.stop(), 5000, "broker.stop()");
    expect(await within(pending, 2000, "the pending READ")).toBe("ZPIPES_FAILED");
    // The broker ended the connection after its replies: the client learns at once.
    const deadline = Date.now() + 2000;
    while (!r.closed && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
    expect(r.closed).toBe(true);
    expect(await codeOf(r.read(1))).toBe("ZPIPES_NO_BROKER");
  });
});

// ── bad peers on the direct ROUTER ─────────────────────────────────────────────

describe("bad peers on the direct ROUTER", () => {
  it("drops a connection that sends nothing after handshakeTimeout (ZMTP_HANDSHAKE_TIMEOUT), while a client keeps working", async () => {
    const log = memoryLogger();
    const { endpoint } = await tcpBroker({ handshakeTimeout: 300, logger: log });
    // A well-behaved pair, connected before the silent peer: its handshake is done, no timer holds it.
    const w = await openWriter("ok", { endpoint });
    const r = await openReader("ok", { endpoint });
    const s = await rawSocket(endpoint);
    const greeting: Buffer[] = [];
    s.on("data", (d: Buffer) => greeting.push(d));
    const t0 = Date.now();
    await within(closedOf(s), 3000, "the silent connection to be closed by the broker");
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(2000);
    // It had been sent the broker's greeting (signature 0xff ... 0x7f, version 3).
    const g = Buffer.concat(greeting);
    expect(g[0]).toBe(0xff);
    expect(g[9]).toBe(0x7f);
    expect(g[10]).toBe(3);
    const dropped = await logEntry(log, "peer-dropped", (e) => e.event === "peer-dropped");
    expect(dropped.level).toBe("warn");
    expect(dropped.fields.code).toBe("ZMTP_HANDSHAKE_TIMEOUT");
    expect(dropped.fields.peer).toMatch(/^127\.0\.0\.1:\d+$/);
    await w.write(Buffer.from("still served"));
    expect((await r.read(12))?.toString()).toBe("still served");
    await w.ping();
  });

  it("keeps a peer that finishes its handshake in time", async () => {
    const log = memoryLogger();
    const { endpoint } = await tcpBroker({ handshakeTimeout: 300, logger: log });
    const s = await rawSocket(endpoint);
    const got: Buffer[] = [];
    s.on("data", (d: Buffer) => got.push(d));
    s.write(Buffer.concat([dealerHandshake(), encodeMessage([hexBytes(F.ping)])]));
    // Greeting (64) + READY from the broker, then PING_OK: 00 03 aa a0 14.
    const pingOk = Buffer.from("0003aaa014", "hex");
    const deadline = Date.now() + 3000;
    while (!Buffer.concat(got).subarray(64).includes(pingOk)) {
      if (Date.now() > deadline) throw new Error(`no PING_OK within 3000 ms: ${Buffer.concat(got).toString("hex")}`);
      await new Promise((res) => setTimeout(res, 10));
    }
    // Past the handshake timeout (a silent peer alongside is dropped meanwhile), this one is still open and served.
    const silent = await rawSocket(endpoint);
    await within(closedOf(silent), 3000, "the silent peer's drop");
    expect(s.destroyed).toBe(false);
    got.length = 0;
    s.write(encodeMessage([hexBytes(F.ping)]));
    await within(new Promise<void>((resolve) => s.once("data", () => resolve())), 3000, "a second PING_OK");
    expect(Buffer.concat(got).toString("hex")).toBe("0003aaa014");
    expect(log.entries.filter((e) => e.event === "peer-dropped")).toHaveLength(1);
  });

  const garbage: [string, Buffer, string][] = [
    ["an HTTP request", Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n".padEnd(64, " ")), "ZMTP_BAD_SIGNATURE"],
    ["64 zero bytes", Buffer.alloc(64), "ZMTP_BAD_SIGNATURE"],
    ["a ZMTP 2.0 greeting", Buffer.from("ff00000000000000017f01", "hex"), "ZMTP_UNSUPPORTED_VERSION"],
    ["a greeting proposing PLAIN", encodeGreeting({ mechanism: "PLAIN", asServer: false }), "ZMTP_MECHANISM_MISMATCH"],
    ["half a greeting, then EOF", encodeGreeting({ mechanism: "NULL", asServer: false }).subarray(0, 20), "ZMTP_TRUNCATED"],
    [
      "a READY from a PUB (incompatible with ROUTER)",
      Buffer.concat([encodeGreeting({ mechanism: "NULL", asServer: false }), encodeCommandFrame(encodeReady(encodeMetadata([["Socket-Type", "PUB"]])))]),
      "ZMTP_INCOMPATIBLE_SOCKET_TYPE",
    ],
    [
      "a message frame before READY",
      Buffer.concat([encodeGreeting({ mechanism: "NULL", asServer: false }), encodeMessage([hexBytes(F.ping)])]),
      "ZMTP_UNEXPECTED_MESSAGE",
    ],
  ];
  for (const [what, bytes, code] of garbage) {
    it(`drops a peer sending ${what} (${code}) and keeps serving others`, async () => {
      const log = memoryLogger();
      const { endpoint } = await tcpBroker({ logger: log });
      const good = await RawClient.connect(endpoint);
      raws.push(good);
      expect(await good.call(F.ping)).toBe(F.PING_OK);
      const s = await rawSocket(endpoint);
      s.resume();
      if (code === "ZMTP_TRUNCATED") s.end(bytes);
      else s.write(bytes);
      await within(closedOf(s), 3000, `the broker to close the connection that sent ${what}`);
      const dropped = await logEntry(log, "peer-dropped", (e) => e.event === "peer-dropped");
      expect(dropped.fields.code).toBe(code);
      expect(await good.call(F.output("p"))).toBe(F.OUTPUT_OK);
      const c = await openReader("p", { endpoint });
      expect(await good.call(F.write("x", 0))).toBe(F.WRITE_OK);
      expect((await c.read(1))?.toString()).toBe("x");
    });
  }

  it("accepts a frame of maxChunk+64 bytes (INVALID back) and drops a peer sending one byte more (ZMTP_MESSAGE_TOO_LARGE)", async () => {
    const log = memoryLogger();
    const { endpoint } = await tcpBroker({ maxChunk: 1024, logger: log });
    const good = await RawClient.connect(endpoint);
    raws.push(good);
    expect(await good.call(F.output("p"))).toBe(F.OUTPUT_OK);

    const big = await RawClient.connect(endpoint);
    raws.push(big);
    const events: string[] = [];
    void (async () => {
      for await (const ev of big.dealer.events) events.push(ev.type);
    })().catch(() => undefined);
    // At the limit: not ZPIPES (all zeros), so INVALID, and the connection stays.
    expect(await big.call(Buffer.alloc(1024 + 64))).toBe(F.INVALID);
    expect(await big.call(F.ping)).toBe(F.PING_OK);
    expect(log.entries.filter((e) => e.event === "peer-dropped")).toEqual([]);
    // One byte more: the connection is dropped before the frame is read.
    await big.send(Buffer.alloc(1024 + 65));
    const dropped = await logEntry(log, "peer-dropped", (e) => e.event === "peer-dropped");
    expect(dropped.fields.code).toBe("ZMTP_MESSAGE_TOO_LARGE");
    const deadline = Date.now() + 3000;
    while (!events.includes("disconnect")) {
      if (Date.now() > deadline) throw new Error(`libzmq saw no disconnect; events: ${events.join(",")}`);
      await new Promise((res) => setTimeout(res, 10));
    }
    // The others are served; a WRITE of maxChunk is fine.
    const r = await openReader("p", { endpoint });
    expect(await good.call(F.write(Buffer.alloc(1024, 1), 0))).toBe(F.WRITE_OK);
    expect((await r.read(1024))?.equals(Buffer.alloc(1024, 1))).toBe(true);
  });

  const MIB = 1024 * 1024;

  /**
   * A peer asking for 48 MiB (48 READs of 1 MiB) that never reads its
   * socket: a hand-made ZMTP DEALER on a paused node:net socket (the kernel
   * buffers fill and stay full), or a zeromq.js DEALER with a receive HWM of
   * 1 that never calls receive (libzmq stops reading its TCP socket when its
   * queue is full). Resolves with a way to resume reading, where there is one.
   */
  const nonReaders: Record<string, (endpoint: string, reads: number) => Promise<{ resume?: () => net.Socket }>> = {
    "a raw ZMTP DEALER on a paused socket": async (endpoint, reads) => {
      const s = await rawSocket(endpoint);
      s.pause();
      s.write(Buffer.concat([dealerHandshake(), encodeMessage([hexBytes(F.input("big"))]), ...Array.from({ length: reads }, () => encodeMessage([hexBytes(F.read(MIB, 0))]))]));
      return { resume: () => s };
    },
    "a zeromq.js DEALER (receiveHighWaterMark 1) that never receives": async (endpoint, reads) => {
      const d = new zmq.Dealer({ linger: 0, receiveHighWaterMark: 1 });
      dealers.push(d);
      d.connect(endpoint);
      await d.send(hexBytes(F.input("big")));
      for (let i = 0; i < reads; i++) await d.send(hexBytes(F.read(MIB, 0)));
      return {};
    },
  };
  for (const [what, nonReader] of Object.entries(nonReaders)) {
    it(`disconnects a peer whose unread replies pass maxBacklog (ZPIPES_PEER_NOT_READING): ${what}; others are served`, async () => {
      const log = memoryLogger();
      const { endpoint } = await tcpBroker({ maxBacklog: MIB, maxPipelined: 64, logger: log });
      const reads = 48;
      const peer = await nonReader(endpoint, reads);
      const w = await openWriter("big", { endpoint });
      const chunk = randomBytes(MIB);
      const isDrop = (e: MemoryLog["entries"][number]): boolean => e.event === "peer-dropped";
      // Each WRITE completes one of its READs: a reply the broker has to queue.
      let written = 0;
      for (; written < reads && !log.entries.some(isDrop); written++) await w.write(chunk, 5000);
      const dropped = await logEntry(log, "peer-dropped", isDrop, 5000);
      expect(dropped.fields.code).toBe("ZPIPES_PEER_NOT_READING");
      expect(written).toBeLessThan(reads);
      if (peer.resume) {
        // The connection is closed: reading it now gives what the kernel held, then the end.
        const s = peer.resume();
        let received = 0;
        s.on("data", (d: Buffer) => (received += d.length));
        await within(closedOf(s), 5000, "the dropped connection to end");
        // What was still queued in the broker when it gave up (over 1 MiB) was discarded, not delivered.
        expect(received).toBeLessThan(written * MIB);
      }
      // Others are served.
      await transfer({ endpoint }, { endpoint }, 2 * MIB, "after-drop");
    });
  }

  it("does not count replies sent in the same tick as unread (two big READ_OKs in one tick, maxBacklog below one of them)", async () => {
    const log = memoryLogger();
    const { endpoint } = await tcpBroker({ maxBacklog: 100_000, logger: log });
    const w = await openWriter("tick", { endpoint });
    const r = await ZpipesClient.openReader("tick", { endpoint });
    clients.push(r);
    const reads = [r.read(150_000, 0), r.read(150_000, 0)];
    await r.ping();
    const data = randomBytes(300_000);
    // One WRITE answers both READs at once: two 150 kB READ_OKs corked in one tick.
    await w.write(data, 5000);
    const [a, b] = await within(Promise.all(reads), 5000, "both READs to be answered");
    expect(Buffer.concat([a!, b!]).equals(data)).toBe(true);
    expect(log.entries.filter((e) => e.event === "peer-dropped")).toEqual([]);
  });

  it("keeps a peer that does not read while its unread replies stay under maxBacklog (the same 48 MiB, maxBacklog 64 MiB)", async () => {
    const log = memoryLogger();
    const { endpoint } = await tcpBroker({ maxBacklog: 64 * MIB, maxPipelined: 64, logger: log });
    const reads = 48;
    await nonReaders["a raw ZMTP DEALER on a paused socket"]!(endpoint, reads);
    const w = await openWriter("big", { endpoint });
    const chunk = randomBytes(MIB);
    for (let i = 0; i < reads; i++) await w.write(chunk, 5000);
    await w.ping();
    expect(log.entries.filter((e) => e.event === "peer-dropped")).toEqual([]);
  });
});

// ── Debian's libzmq (python3-zmq) against the direct ROUTER ───────────────────

const PY_DEALER = String.raw`
import json, sys, zmq
endpoint = sys.argv[1]
steps = json.load(sys.stdin)
ctx = zmq.Context()
socks = {}
replies = []
try:
    for name, request in steps:
        s = socks.get(name)
        if s is None:
            s = ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.RCVTIMEO, 5000)
            s.connect(endpoint)
            socks[name] = s
        s.send(bytes.fromhex(request))
        try:
            frames = s.recv_multipart()
        except zmq.Again:
            print(json.dumps({"error": "no reply within 5 s", "step": len(replies), "version": zmq.zmq_version()}))
            sys.exit(3)
        replies.append([f.hex() for f in frames])
    print(json.dumps({"replies": replies, "version": zmq.zmq_version()}))
finally:
    for s in socks.values():
        s.close(0)
    ctx.term()
`;

let pythonBin: string | null | undefined;

/** A python3 that imports zmq (Debian's is /usr/bin/python3 with python3-zmq; PATH may have another first). */
function python(): string {
  if (pythonBin === undefined) {
    pythonBin = null;
    for (const candidate of ["python3", "/usr/bin/python3"]) {
      if (spawnSync(candidate, ["-c", "import zmq"], { stdio: "ignore", timeout: 10_000 }).status === 0) {
        pythonBin = candidate;
        break;
      }
    }
  }
  if (pythonBin === null) throw new Error("this test needs python3 with pyzmq: apt-get install python3-zmq (.ci/run installs it)");
  return pythonBin;
}

/** Runs the python DEALER script: each step sends one frame from socket `name` and takes one reply. */
async function pyDealer(endpoint: string, steps: [string, string][]): Promise<{ replies: string[][]; version: string }> {
  const proc = spawn(python(), ["-c", PY_DEALER, endpoint], { stdio: ["pipe", "pipe", "pipe"] });
  procs.push(proc);
  let out = "";
  let err = "";
  proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  proc.stdin.end(JSON.stringify(steps));
  const code = await within(exited, 30_000, "the python DEALER to finish");
  if (code !== 0) throw new Error(`python DEALER exited ${code}: ${out} ${err}`);
  return JSON.parse(out) as { replies: string[][]; version: string };
}

describe("Debian's libzmq (python3-zmq DEALER) against the direct ROUTER", () => {
  it("speaks ZPIPES byte for byte over tcp://: OUTPUT, INPUT, WRITE, READ, CLOSE, PING, INVALID", async () => {
    const bind = vi.spyOn(DirectRouter.prototype, "bind");
    const { endpoint } = await tcpBroker();
    expect(bind).toHaveBeenCalledTimes(1);
    const steps: [string, string][] = [
      ["r", "aaa013"], // PING
      ["r", "aaa0070000000300000000"], // READ before INPUT
      ["w", "aaa0040170"], // OUTPUT "p"
      ["r", "aaa0010170"], // INPUT "p"
      ["w", "aaa00c0000000568656c6c6f00000000"], // WRITE "hello"
      ["r", "aaa0070000000300000000"], // READ 3
      ["w", F.close],
      ["r", F.read(100, 0)],
      ["r", F.read(100, 0)],
      ["w", "aaa0ff"], // unknown id
    ];
    const { replies, version } = await pyDealer(endpoint, steps);
    expect(version).toMatch(/^4\./);
    expect(replies).toEqual([["aaa014"], ["aaa015"], ["aaa005"], ["aaa002"], ["aaa00d"], ["aaa00800000003" + "68656c"], [F.CLOSE_OK], [F.readOk("lo")], [F.READ_END], [F.INVALID]]);
  });

  it("carries a 300 kB chunk (long frames, by-reference replies) to and from python intact", async () => {
    const { endpoint } = await tcpBroker();
    const data = randomBytes(300_000);
    const { replies } = await pyDealer(endpoint, [
      ["w", F.output("big")],
      ["r", F.input("big")],
      ["w", F.write(data, 0)],
      ["r", F.read(data.length, 0)],
      ["w", F.close],
      ["r", F.read(1, 0)],
    ]);
    expect(replies.map((r) => r.length)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(replies[0]![0]).toBe(F.OUTPUT_OK);
    expect(replies[1]![0]).toBe(F.INPUT_OK);
    expect(replies[2]![0]).toBe(F.WRITE_OK);
    expect(sha(hexBytes(replies[3]![0]!))).toBe(sha(hexBytes(F.readOk(data))));
    expect(replies[4]![0]).toBe(F.CLOSE_OK);
    expect(replies[5]![0]).toBe(F.READ_END);
  });

  it("a python writer on a default broker's abstract name (libzmq's form) feeds a vtx reader on node's form of it", async () => {
    const broker = await startBroker();
    const endpoint = `ipc://@/zpipes/${broker.name}`;
    const r = await openReader("py", { broker: broker.name });
    const reading = r.read(17);
    const { replies } = await pyDealer(endpoint, [
      ["w", F.output("py")],
      ["w", F.write("hello from python", 0)],
      ["w", F.close],
    ]);
    expect(replies).toEqual([[F.OUTPUT_OK], [F.WRITE_OK], [F.CLOSE_OK]]);
    expect((await within(reading, 3000, "the vtx reader"))?.toString()).toBe("hello from python");
    expect(await r.read(1)).toBeNull();
  });
});
