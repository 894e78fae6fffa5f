import { createHash, randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterEach, describe, expect, it } from "vitest";
import type * as zmq from "zeromq";
import { ZpipesBroker, type BrokerOptions } from "../src/broker/index.js";
import { ZpipesClient, createReadStream, createWriteStream, openReadStream, openWriteStream } from "../src/client/index.js";
import { uniqueName } from "./helpers/raw-client.js";
import { codeOf } from "./helpers/promises.js";

const ZBROKER = fileURLToPath(new URL("../dist/cli/zbroker.js", import.meta.url));

let broker: ZpipesBroker | null = null;
const open: ZpipesClient[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close(500);
  await broker?.stop();
  broker = null;
});

async function start(options: BrokerOptions = {}): Promise<string> {
  const name = uniqueName("cli");
  broker = new ZpipesBroker({ name, ...options });
  await broker.start();
  return name;
}

const track = (c: ZpipesClient): ZpipesClient => (open.push(c), c);

describe("client API", () => {
  it("writes chunks and reads exact sizes, then null at the end", async () => {
    const name = await start();
    const w = track(await ZpipesClient.openWriter("p", { broker: name }));
    const r = track(await ZpipesClient.openReader("p", { broker: name }));
    await w.write(Buffer.from("hello "));
    await w.write([Buffer.from("wor"), Buffer.from("ld")]); // parts gathered into one WRITE
    expect((await r.read(3))?.toString()).toBe("hel");
    expect((await r.read(5))?.toString()).toBe("lo wo");
    await w.close();
    expect((await r.read(100))?.toString()).toBe("rld");
    expect(await r.read(100)).toBeNull();
  });

  it("opens for writing with a leading '>' as the original does", async () => {
    const name = await start();
    const w = track(await ZpipesClient.open(">p", { broker: name }));
    const r = track(await ZpipesClient.open("p", { broker: name }));
    expect(w.mode).toBe("writer");
    expect(r.mode).toBe("reader");
    await w.write(Buffer.from("x"));
    expect((await r.read(1))?.toString()).toBe("x");
  });

  it("maps broker answers to codes: TIMEOUT, FAILED, INVALID", async () => {
    const name = await start();
    const w = track(await ZpipesClient.openWriter("p", { broker: name }));
    expect(await codeOf(w.write(Buffer.from("nobody reads"), 50))).toBe("ZPIPES_TIMEOUT");
    expect(await codeOf(ZpipesClient.openWriter("p", { broker: name }))).toBe("ZPIPES_FAILED");
    expect(await codeOf(w.read(1))).toBe("ZPIPES_INVALID");
    const r = track(await ZpipesClient.openReader("p", { broker: name }));
    expect(await codeOf(r.read(1, 50))).toBe("ZPIPES_TIMEOUT");
    await r.close();
    expect(await codeOf(w.write(Buffer.from("x")))).toBe("ZPIPES_FAILED");
    expect(await codeOf(r.read(1))).toBe("ZPIPES_CLOSED");
  });

  it("fails a pending read with ZPIPES_FAILED when the client closes it", async () => {
    const name = await start();
    const r = track(await ZpipesClient.openReader("p", { broker: name }));
    const pending = r.read(10);
    await r.ping();
    await r.close();
    expect(await codeOf(pending)).toBe("ZPIPES_FAILED");
  });

  it("runs several writes and reads in flight, settling in order", async () => {
    const name = await start({ budget: 64 });
    const w = track(await ZpipesClient.openWriter("p", { broker: name }));
    const r = track(await ZpipesClient.openReader("p", { broker: name }));
    const parts = Array.from({ length: 12 }, (_, i) => Buffer.alloc(16, i));
    const writes = parts.map((p) => w.write(p));
    const reads = parts.map(() => r.read(16));
    await Promise.all(writes);
    const got = await Promise.all(reads);
    expect(Buffer.concat(got as Buffer[]).equals(Buffer.concat(parts))).toBe(true);
  });

  it("fails with ZPIPES_NO_BROKER after the connect timeout when no broker runs, never hangs", async () => {
    const t0 = Date.now();
    expect(await codeOf(ZpipesClient.openReader("p", { broker: uniqueName("none"), connectTimeout: 200 }))).toBe("ZPIPES_NO_BROKER");
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it("fails a pending call with ZPIPES_NO_BROKER when its broker is killed (heartbeat)", async () => {
    expect(existsSync(ZBROKER), "build first: pnpm build").toBe(true);
    const name = uniqueName("kill");
    const cp = spawn(process.execPath, [ZBROKER, name], { stdio: ["ignore", "ignore", "pipe"] });
    try {
      const [line] = (await once(cp.stderr, "data")) as [Buffer];
      expect(line.toString()).toContain("broker-started");
      const r = await ZpipesClient.openReader("p", { broker: name, heartbeat: 100 });
      const pending = r.read(10);
      await r.ping();
      cp.kill("SIGKILL");
      const t0 = Date.now();
      expect(await codeOf(pending)).toBe("ZPIPES_NO_BROKER");
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(r.closed).toBe(true);
      expect(await codeOf(r.read(1))).toBe("ZPIPES_NO_BROKER");
    } finally {
      if (cp.exitCode === null && cp.signalCode === null) cp.kill("SIGKILL");
    }
  });
});

describe("virtual endpoints", () => {
  it("carries a pipe between clients over ztcp:// (vtx manager hooks on broker and clients)", async () => {
    const { Vtx } = await import("@vtx/runtime");
    const { ztcp } = await import("@vtx/drivers");
    const vtxB = new Vtx();
    const vtxC = new Vtx();
    vtxB.register("ztcp", ztcp());
    vtxC.register("ztcp", ztcp());
    try {
      broker = new ZpipesBroker({
        name: uniqueName("v"),
        noDefaultEndpoint: true,
        endpoints: ["ztcp://127.0.0.1:0"],
        socketHooks: { bind: (s, ep) => vtxB.bind(s, ep), close: (s) => vtxB.close(s) },
      });
      await broker.start();
      const endpoint = broker.endpoints[0] as string;
      const hooks = { connect: (d: zmq.Dealer, ep: string) => vtxC.connect(d, ep), close: (d: zmq.Dealer) => vtxC.close(d) };
      const w = track(await ZpipesClient.openWriter("vp", { endpoint, socketHooks: hooks }));
      const r = track(await ZpipesClient.openReader("vp", { endpoint, socketHooks: hooks }));
      const data = randomBytes(300_000);
      const writing = (async () => {
        for (let at = 0; at < data.length; at += 65_536) await w.write(data.subarray(at, at + 65_536));
        await w.close();
      })();
      const got: Buffer[] = [];
      for (;;) {
        const b = await r.read(65_536, 10_000);
        if (b === null) break;
        got.push(b);
      }
      await writing;
      expect(Buffer.concat(got).equals(data)).toBe(true);
      for (const c of open.splice(0)) await c.close(500);
      await broker.stop();
      broker = null;
    } finally {
      await vtxC.destroy();
      await vtxB.destroy();
    }
  });
});

describe("Node stream adapters", () => {
  it("carry 8 MiB through pipeline() intact, writer and reader concurrently", async () => {
    const name = await start({ budget: 256 * 1024 });
    const data = randomBytes(8 * 1024 * 1024);
    const chunks: Buffer[] = [];
    for (let at = 0; at < data.length; at += 50_000) chunks.push(data.subarray(at, at + 50_000));
    const reader = await openReadStream("s", { broker: name });
    const writer = await openWriteStream("s", { broker: name });
    const hash = createHash("sha256");
    let got = 0;
    await Promise.all([
      pipeline(Readable.from(chunks), writer),
      pipeline(
        reader,
        new Writable({
          write(chunk: Buffer, _e, cb) {
            got += chunk.length;
            hash.update(chunk);
            cb();
          },
        }),
      ),
    ]);
    expect(got).toBe(data.length);
    expect(hash.digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
  });

  it("coalesces chunks buffered under backpressure into fewer WRITEs, same bytes", async () => {
    const name = await start();
    const parts = Array.from({ length: 400 }, (_, i) => Buffer.alloc(1000, i));
    const reader = await ZpipesClient.openReader("c", { broker: name });
    const writer = await openWriteStream("c", { broker: name, window: 2 });
    const before = broker?.stats().messages ?? 0;
    await pipeline(Readable.from(parts), writer);
    const writes = (broker?.stats().messages ?? 0) - before;
    const got: Buffer[] = [];
    for (;;) {
      const b = await reader.read(65_536);
      if (b === null) break;
      got.push(b);
    }
    await reader.close();
    expect(Buffer.concat(got).equals(Buffer.concat(parts))).toBe(true);
    expect(writes).toBeLessThan(100);
  });

  it("ends the Readable at READ_END and destroys it on a failure", async () => {
    const name = await start();
    const w = await ZpipesClient.openWriter("e", { broker: name });
    const r = await ZpipesClient.openReader("e", { broker: name });
    const rs = createReadStream(r, { chunkSize: 4 });
    await w.write(Buffer.from("abcdefghij"));
    await w.close();
    const parts: Buffer[] = [];
    for await (const c of rs) parts.push(c as Buffer);
    expect(Buffer.concat(parts).toString()).toBe("abcdefghij");
    expect(r.closed).toBe(true);

    const w2 = await ZpipesClient.openWriter("f", { broker: name });
    const ws = createWriteStream(w2, { timeout: 50 });
    const err = await pipeline(Readable.from([Buffer.from("no reader")]), ws).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe("ZPIPES_TIMEOUT");
  });
});
