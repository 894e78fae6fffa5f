/**
 * Fuzz: many clients at once send random and mutated frames for a bounded
 * time while well-behaved clients transfer checksummed data and PING. The
 * broker must keep serving the well-behaved ones and keep its memory bounded.
 */
import { createHash, randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import fc from "fast-check";
import * as zmq from "zeromq";
import { ZpipesBroker } from "../src/broker/index.js";
import { ZpipesClient } from "../src/client/index.js";
import { memoryLogger } from "../src/log.js";
import { F, hexBytes, uniqueName } from "./helpers/raw-client.js";

const FUZZERS = 24;
const DURATION_MS = 4000;
const MAX_MESSAGES_PER_FUZZER = 50_000;
const MAX_MEMORY = 64 * 1024 * 1024;
const MAX_CHUNK = 1024 * 1024;

let broker: ZpipesBroker | null = null;
afterEach(async () => {
  await broker?.stop();
  broker = null;
});

/** Frames a fuzzer draws from: valid commands on a few shared names, replies, junk. */
function frameArb(): fc.Arbitrary<Buffer> {
  const name = fc.constantFrom("f0", "f1", "f2", "f3");
  const small = fc.integer({ min: 0, max: 200 });
  const valid = fc.oneof(
    name.map((n) => hexBytes(F.input(n))),
    name.map((n) => hexBytes(F.output(n))),
    fc.tuple(fc.integer({ min: 0, max: 2 * MAX_CHUNK }), small).map(([s, t]) => hexBytes(F.read(s, t))),
    fc.tuple(fc.integer({ min: 0, max: 70_000 }), small).map(([len, t]) => hexBytes(F.write(Buffer.alloc(len, 0x5a), t))),
    fc.constant(hexBytes(F.close)),
    fc.constant(hexBytes(F.ping)),
    fc.constantFrom(F.INPUT_OK, F.READ_END, F.WRITE_OK, F.INVALID).map(hexBytes),
  );
  const mutated = fc.tuple(valid, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom("flip", "truncate", "extend", "length")).map(
    ([frame, at, byte, how]) => {
      const b = Buffer.from(frame);
      if (b.length === 0) return b;
      const i = at % b.length;
      switch (how) {
        case "flip":
          b[i] = byte;
          return b;
        case "truncate":
          return b.subarray(0, i);
        case "extend":
          return Buffer.concat([b, Buffer.alloc(byte, byte)]);
        default:
          if (b.length >= 7) b.writeUInt32BE((byte << 24) >>> 0 || 0xffffffff, 3);
          return b;
      }
    },
  );
  const junk = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));
  return fc.oneof({ arbitrary: valid, weight: 3 }, { arbitrary: mutated, weight: 4 }, { arbitrary: junk, weight: 2 });
}

async function fuzzer(endpoint: string, deadline: number, seed: number): Promise<number> {
  const dealer = new zmq.Dealer({ linger: 0, sendHighWaterMark: 1000 });
  dealer.connect(endpoint);
  let replies = 0;
  const drain = (async () => {
    try {
      for (;;) {
        await dealer.receive();
        replies++;
      }
    } catch {
      /* closed */
    }
  })();
  const frames = fc.sample(frameArb(), { numRuns: 500, seed });
  let sent = 0;
  while (Date.now() < deadline && sent < MAX_MESSAGES_PER_FUZZER) {
    const frame = frames[sent % frames.length] as Buffer;
    // Sometimes several frames at once; a multi-frame message is bad input too.
    await (sent % 97 === 0 ? dealer.send([frame, frame]) : dealer.send(frame));
    sent++;
    if (sent % 50 === 0) await new Promise((r) => setImmediate(r));
  }
  dealer.close();
  await drain;
  return replies;
}

/** A well-behaved writer/reader pair moving `bytes` with a checksum. */
async function goodTransfer(broker: string, pipe: string, bytes: number): Promise<void> {
  const data = randomBytes(bytes);
  // The brokers here expire clients silent for 1.5 s; a reader waiting on a
  // slow writer is silent, so heartbeats must come faster than that (as any
  // deployment sets heartbeat < expiry).
  const options = { broker, connectTimeout: 10_000, heartbeat: 300 };
  const r = await ZpipesClient.openReader(pipe, options);
  const w = await ZpipesClient.openWriter(pipe, options);
  const writing = (async () => {
    for (let at = 0; at < data.length; at += 65_536) await w.write(data.subarray(at, at + 65_536), 10_000);
    await w.close();
  })();
  // Awaited below; if the reading side fails first, the writer's failure
  // that follows is expected and must not surface as unhandled.
  writing.catch(() => undefined);
  const hash = createHash("sha256");
  let got = 0;
  for (;;) {
    const chunk = await r.read(65_536, 10_000);
    if (chunk === null) break;
    hash.update(chunk);
    got += chunk.length;
  }
  await writing;
  await r.close();
  expect(got).toBe(bytes);
  expect(hash.digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
}

it("keeps serving well-behaved clients and bounds memory while many clients send random and mutated frames", async () => {
  const log = memoryLogger();
  broker = new ZpipesBroker({
    name: uniqueName("fuzz"),
    budget: 256 * 1024,
    maxChunk: MAX_CHUNK,
    maxMemory: MAX_MEMORY,
    expiry: 1500,
    logger: log,
    // The fuzzers go half to the libzmq ROUTER (abstract ipc), half to the
    // broker's own ZMTP ROUTER (tcp); the good clients use the latter's ipc.
    endpoints: ["tcp://127.0.0.1:*"],
  });
  await broker.start();
  const endpoint = broker.endpoints[0] as string;
  const direct = broker.endpoints[1] as string;
  const deadline = Date.now() + DURATION_MS;

  let maxHeld = 0;
  const sampler = setInterval(() => {
    maxHeld = Math.max(maxHeld, broker?.stats().heldBytes ?? 0);
  }, 20);

  // A raw PING-er: every PING must be answered promptly throughout.
  const pinger = (async () => {
    const dealer = new zmq.Dealer({ linger: 0 });
    dealer.connect(endpoint);
    let worst = 0;
    let pings = 0;
    try {
      while (Date.now() < deadline) {
        const t0 = Date.now();
        await dealer.send(hexBytes(F.ping));
        const reply = await Promise.race([
          dealer.receive(),
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error("PING not answered within 5 s")), 5000)),
        ]);
        expect(reply[0]?.toString("hex")).toBe(F.PING_OK);
        worst = Math.max(worst, Date.now() - t0);
        pings++;
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      dealer.close();
    }
    return { worst, pings };
  })();

  const good = (async () => {
    let transfers = 0;
    while (Date.now() < deadline) {
      await Promise.all([goodTransfer(broker?.name, `good-a-${transfers}`, 2 * 1024 * 1024), goodTransfer(broker?.name, `good-b-${transfers}`, 512 * 1024)]);
      transfers++;
    }
    return transfers;
  })();

  const fuzzers = Array.from({ length: FUZZERS }, (_, i) => fuzzer(i % 2 === 0 ? endpoint : direct, deadline, 1000 + i));
  const [replies, transfers, ping] = await Promise.all([Promise.all(fuzzers), good, pinger]);
  clearInterval(sampler);

  const stats = broker.stats();
  expect(transfers).toBeGreaterThan(0);
  // Pinged throughout, every PING answered (within 5 s each, above). How
  // many fit in 4 s depends on the machine's load: a full-suite run on 2
  // cores managed 8, so only a few are required here.
  expect(ping.pings).toBeGreaterThanOrEqual(3);
  // Never stalled (the fuzz lasts 4 s; a slow, shared 2-core machine has
  // shown 2.2 s at worst while other test processes ran).
  expect(ping.worst).toBeLessThan(4000);
  expect(replies.reduce((a, b) => a + b, 0)).toBeGreaterThan(1000);
  expect(stats.badFrames).toBeGreaterThan(100);
  expect(log.entries.some((e) => e.event === "bad-input")).toBe(true);
  expect(log.entries.some((e) => e.event === "dispatch-failed")).toBe(false);
  expect(maxHeld).toBeLessThanOrEqual(MAX_MEMORY);

  // The fuzzers are gone: expiry reclaims their sessions, pipes and bytes.
  const until = Date.now() + 10_000;
  while (broker.stats().clients > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  expect(broker.stats()).toMatchObject({ clients: 0, pipes: 0, heldBytes: 0 });
});

const ZBROKER = fileURLToPath(new URL("../dist/cli/zbroker.js", import.meta.url));

function rssOf(pid: number): number {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return 0; // the process is gone (the test is ending)
  }
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

it("keeps a zbroker process's resident memory bounded under the same fuzz", async () => {
  expect(existsSync(ZBROKER), "build first: pnpm build").toBe(true);
  const name = uniqueName("fuzzp");
  const proc = spawn(process.execPath, [ZBROKER, name, "--budget", "256k", "--max-memory", "64m", "--max-chunk", "1m", "--expiry", "1500", "--log-level", "error"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let sampler: NodeJS.Timeout | undefined;
  try {
    const probe = await ZpipesClient.openReader("probe", { broker: name, connectTimeout: 10_000 });
    await probe.close();
    const rss0 = rssOf(proc.pid as number);
    let peak = rss0;
    sampler = setInterval(() => {
      peak = Math.max(peak, rssOf(proc.pid as number));
    }, 25);
    const deadline = Date.now() + DURATION_MS;
    const endpoint = `ipc://@/zpipes/${name}`;
    const good = (async () => {
      let n = 0;
      while (Date.now() < deadline) await goodTransfer(name, `good-${n++}`, 1024 * 1024);
      return n;
    })();
    await Promise.all([...Array.from({ length: FUZZERS }, (_, i) => fuzzer(endpoint, deadline, 5000 + i)), good]);
    clearInterval(sampler);
    expect(await good).toBeGreaterThan(0);
    // 64 MiB of held data at most, plus libzmq queues and the runtime: far below this.
    expect(peak - rss0).toBeLessThan(256 * 1024 * 1024);
    proc.kill("SIGTERM");
    const [code] = (await once(proc, "exit")) as [number | null];
    expect(code).toBe(0);
  } finally {
    clearInterval(sampler);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  }
});
