#!/usr/bin/env node
/**
 * ZPIPES throughput: N MiB (default 256) in 64 KiB chunks, writer and reader
 * in separate processes, through one broker (its own process, the built
 * `zbroker`), verified byte for byte by the reader. In the same run, the
 * same bytes through a Unix pipe (`cat` into `cat`) as the ceiling. Medians
 * of --runs (default 5: single runs here spread by ±20 %) runs; MB = 10^6 bytes.
 *
 *   pnpm build && node packages/zpipes/bench/zpipes-bench.mjs [--mib 256] [--runs 5]
 *
 * Configurations: the client API with 64 KiB and 1 MiB READs (one WRITE per
 * 64 KiB chunk), and the Node stream adapters (64 KiB chunks into a Writable,
 * which coalesces under backpressure; a Readable of 64 KiB READs).
 *
 * Anchors: the C original did 157–241 MB/s through one broker, 139.5 MB/s
 * through two (ZPIPES reference, same machine class). Bar: ≥ 600 MB/s.
 *
 * For the cluster bench: `transfer({ writerEndpoint, readerEndpoint, ... })`
 * runs one verified transfer between any two broker endpoints.
 */
import { fork, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, openSync, writeSync, closeSync, existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { withStreamingMalloc } from "@vtx/runtime/malloc-tuning";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const DIST = join(HERE, "..", "dist");
/** The zbroker command as installed (package.json "bin"): execs node with glibc tuned for streaming. */
const ZBROKER = join(HERE, "..", "bin", "zbroker");
const POOL = 16;

/** Deterministic payload: chunk i of the stream is pool[i % POOL]. */
function makePool(chunk, seed = 0x9e3779b9) {
  let x = seed >>> 0;
  const pool = [];
  for (let p = 0; p < POOL; p++) {
    const b = Buffer.allocUnsafe(chunk);
    for (let i = 0; i + 4 <= chunk; i += 4) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      b.writeUInt32LE(x, i);
    }
    pool.push(b);
  }
  return pool;
}

const now = () => performance.timeOrigin + performance.now();

// ── child roles ─────────────────────────────────────────────────────────────

async function writerRole({ endpoint, bytes, chunk, window, streams, direct = true }) {
  const { ZpipesClient, primeMallocForStreaming } = await import(pathToFileURL(join(DIST, "index.js")).href);
  // As the zpipe command does: keep big buffers' memory for reuse.
  await primeMallocForStreaming();
  const pool = makePool(chunk);
  const client = await ZpipesClient.openWriter("bench", { endpoint, direct });
  process.send({ ready: true });
  await once(process, "message");
  const t0 = now();
  const cpu0 = process.cpuUsage();
  const faults0 = process.resourceUsage().minorPageFault;
  const n = Math.ceil(bytes / chunk);
  if (streams) {
    // The user-facing path: 64 KiB chunks piped into the Writable adapter
    // (which coalesces what piles up under backpressure).
    const { createWriteStream } = await import(pathToFileURL(join(DIST, "index.js")).href);
    const { Readable } = await import("node:stream");
    const { pipeline } = await import("node:stream/promises");
    function* chunks() {
      for (let i = 0; i < n; i++) {
        const len = Math.min(chunk, bytes - i * chunk);
        yield len === chunk ? pool[i % POOL] : pool[i % POOL].subarray(0, len);
      }
    }
    await pipeline(Readable.from(chunks(), { objectMode: false }), createWriteStream(client, { window }));
    process.send({ t0, cpu: process.cpuUsage(cpu0), faults: process.resourceUsage().minorPageFault - faults0 });
    return;
  }
  let inflight = 0;
  let next = 0;
  let failed = null;
  await new Promise((resolve) => {
    const pump = () => {
      while (!failed && next < n && inflight < window) {
        const i = next++;
        const len = Math.min(chunk, bytes - i * chunk);
        const buf = len === chunk ? pool[i % POOL] : pool[i % POOL].subarray(0, len);
        inflight++;
        client.write(buf, 0).then(
          () => {
            inflight--;
            if (next === n && inflight === 0) resolve();
            else pump();
          },
          (err) => {
            failed = err;
            resolve();
          },
        );
      }
    };
    pump();
  });
  if (failed) throw failed;
  await client.close();
  process.send({ t0, cpu: process.cpuUsage(cpu0), faults: process.resourceUsage().minorPageFault - faults0 });
}

async function readerRole({ endpoint, bytes, chunk, window, readSize, streams, direct = true }) {
  const { ZpipesClient, primeMallocForStreaming } = await import(pathToFileURL(join(DIST, "index.js")).href);
  await primeMallocForStreaming();
  const pool = makePool(chunk);
  const client = await ZpipesClient.openReader("bench", { endpoint, direct });
  process.send({ ready: true });
  const cpu0 = process.cpuUsage();
  const faults0 = process.resourceUsage().minorPageFault;
  let got = 0;
  let mismatch = -1;
  let ended = false;
  let inflight = 0;
  const check = (buf) => {
    // Compare against the expected stream piecewise (reads need not align with writes).
    let at = 0;
    while (at < buf.length) {
      const off = got % chunk;
      const want = pool[Math.floor(got / chunk) % POOL];
      const k = Math.min(buf.length - at, chunk - off);
      if (mismatch < 0 && buf.compare(want, off, off + k, at, at + k) !== 0) mismatch = got;
      at += k;
      got += k;
    }
  };
  if (streams) {
    const { createReadStream } = await import(pathToFileURL(join(DIST, "index.js")).href);
    for await (const buf of createReadStream(client, { chunkSize: readSize ?? chunk })) check(buf);
    const t1 = now();
    process.send({ t1, got, mismatch, cpu: process.cpuUsage(cpu0), faults: process.resourceUsage().minorPageFault - faults0 });
    return;
  }
  await new Promise((resolve, reject) => {
    const pump = () => {
      while (!ended && inflight < window) {
        inflight++;
        client.read(readSize ?? chunk, 0).then((buf) => {
          inflight--;
          if (buf === null) {
            ended = true;
            if (inflight === 0) resolve();
            return;
          }
          check(buf);
          if (ended && inflight === 0) resolve();
          else pump();
        }, reject);
      }
    };
    pump();
  });
  const t1 = now();
  await client.close();
  process.send({ t1, got, mismatch, cpu: process.cpuUsage(cpu0), faults: process.resourceUsage().minorPageFault - faults0 });
}

// ── parent ──────────────────────────────────────────────────────────────────

function child(role, args) {
  // Started as the zpipe command starts node: with glibc tuned for streaming.
  const cp = fork(fileURLToPath(import.meta.url), ["--role", role, "--args", JSON.stringify(args)], { stdio: ["ignore", "inherit", "inherit", "ipc"], env: withStreamingMalloc(process.env) });
  const messages = [];
  let waiter = null;
  // Taken at spawn: a child may exit before the parent gets round to waiting.
  const exited = once(cp, "exit");
  cp.on("message", (m) => {
    if (waiter) {
      const w = waiter;
      waiter = null;
      w(m);
    } else messages.push(m);
  });
  const next = (what, timeoutMs = 120_000) =>
    messages.length > 0
      ? Promise.resolve(messages.shift())
      : new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`${role}: no ${what} within ${timeoutMs} ms`)), timeoutMs);
          const onExit = (code) => reject(new Error(`${role} exited with ${code} before ${what}`));
          cp.once("exit", onExit);
          waiter = (m) => {
            clearTimeout(t);
            cp.off("exit", onExit);
            resolve(m);
          };
        });
  return { cp, next, exited };
}

/**
 * One verified transfer of `bytes` in `chunk`-sized WRITEs from a writer
 * process on `writerEndpoint` to a reader process on `readerEndpoint` (the
 * same broker, or two clustered ones). Returns seconds and MB/s.
 */
export async function transfer({
  writerEndpoint,
  readerEndpoint,
  bytes = 256 * 2 ** 20,
  chunk = 64 * 1024,
  window = 8,
  readSize = chunk,
  streams = false,
  brokerPids = [],
  direct = true,
}) {
  const reader = child("reader", {
    endpoint: readerEndpoint,
    bytes,
    chunk,
    window: readSize > chunk ? Math.max(2, Math.ceil((window * chunk) / readSize)) : window,
    readSize,
    streams,
    direct,
  });
  await reader.next("reader ready");
  const writer = child("writer", { endpoint: writerEndpoint, bytes, chunk, window, streams, direct });
  await writer.next("writer ready");
  const brokerCpu0 = brokerPids.map(cpuOfPid);
  const brokerFaults0 = brokerPids.map(faultsOfPid);
  writer.cp.send("go");
  const [w, r] = await Promise.all([writer.next("writer result"), reader.next("reader result")]);
  await Promise.all([writer.exited, reader.exited]);
  if (r.got !== bytes) throw new Error(`reader got ${r.got} bytes, expected ${bytes}`);
  if (r.mismatch >= 0) throw new Error(`data mismatch at byte ${r.mismatch}`);
  const seconds = (r.t1 - w.t0) / 1000;
  const ms = (u) => (u.user + u.system) / 1000;
  // CPU spent on the transfer by each process (user + system, all threads):
  // a measure of cost that background load on a shared machine barely moves.
  const cpuMs = { writer: ms(w.cpu), reader: ms(r.cpu), brokers: brokerPids.map((pid, i) => cpuOfPid(pid) - brokerCpu0[i]) };
  if (process.env.ZPIPES_BENCH_CPU) console.error(`cpu ms: writer ${JSON.stringify(w.cpu)} reader ${JSON.stringify(r.cpu)} wall ${seconds}; minor page faults: writer ${w.faults} reader ${r.faults} brokers ${brokerPids.map((pid, i) => faultsOfPid(pid) - brokerFaults0[i]).join(" ")}`);
  return { seconds, mbps: bytes / 1e6 / seconds, cpuMs };
}

/** Minor page faults of a process so far, from /proc (Linux); NaN elsewhere. */
function faultsOfPid(pid) {
  try {
    // minflt is field 10 of stat.
    return Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")[7]);
  } catch {
    return NaN;
  }
}

/** CPU ms (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
function cpuOfPid(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    // utime and stime are fields 14 and 15 of stat, in clock ticks (100 per second here).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

/** Start the built zbroker as its own process; resolves once it is listening. */
export async function startBroker(name, extraArgs = []) {
  // Node flags for the broker (profiling, say) go through NODE_OPTIONS, past the launcher.
  const nodeOptions = process.env.ZPIPES_BENCH_BROKER_FLAGS ? { NODE_OPTIONS: process.env.ZPIPES_BENCH_BROKER_FLAGS } : {};
  const cp = spawn(ZBROKER, [name, "--log-level", process.env.ZPIPES_BENCH_CPU ? "info" : "warn", ...extraArgs], {
    stdio: ["ignore", "ignore", process.env.ZPIPES_BENCH_CPU ? "inherit" : "ignore"],
    env: { ...process.env, ...nodeOptions },
  });
  const exited = once(cp, "exit");
  const { ZpipesClient } = await import(pathToFileURL(join(DIST, "index.js")).href);
  // Ready when a client can open a pipe on it (bounded by the connect timeout).
  const probe = await ZpipesClient.openReader(`probe-${process.pid}`, { broker: name, connectTimeout: 10_000 });
  await probe.close();
  return {
    endpoint: `ipc://@/zpipes/${name}`,
    pid: cp.pid,
    async stop() {
      cp.kill("SIGTERM");
      const killer = setTimeout(() => cp.kill("SIGKILL"), 10_000);
      const [code] = await exited;
      clearTimeout(killer);
      if (code !== 0) throw new Error(`zbroker exited with ${code}`);
    },
  };
}

/** The same bytes through `cat file | cat > /dev/null` (the ceiling). */
async function unixPipe(file, bytes) {
  const t0 = now();
  const cp = spawn("sh", ["-c", `cat '${file}' | cat > /dev/null`], { stdio: "inherit" });
  const [code] = await once(cp, "exit");
  if (code !== 0) throw new Error(`cat | cat exited with ${code}`);
  const seconds = (now() - t0) / 1000;
  return { seconds, mbps: bytes / 1e6 / seconds };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export async function main(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: {
      mib: { type: "string" },
      runs: { type: "string" },
      chunk: { type: "string" },
      window: { type: "string" },
      "read-sizes": { type: "string" },
      "slow-path": { type: "boolean" },
      "no-streams": { type: "boolean" },
      "broker-args": { type: "string" },
      "warm-mib": { type: "string" },
    },
  });
  const bytes = Number(values.mib ?? 256) * 2 ** 20;
  const chunk = Number(values.chunk ?? 65536);
  const runs = Math.max(3, Number(values.runs ?? 5));
  const window = Number(values.window ?? 8);
  // How much a "warm" broker has carried before it is measured. A zbroker's
  // CPU per 256 MiB keeps falling over its first ~1 GiB (V8 optimizing its
  // hot path: e.g. 480, 310, 250, 230, 170, 180 ms for six transfers in a
  // row), so 1 GiB stands for a broker in service.
  const warmBytes = Number(values["warm-mib"] ?? 1024) * 2 ** 20;
  // READ sizes to measure: the WRITE size (the strict case), and 1 MiB (a bulk reader).
  const readSizes = (values["read-sizes"] ?? `${chunk},${1024 * 1024}`).split(",").map(Number);
  const kib = (n) => (n >= 2 ** 20 ? `${n / 2 ** 20} MiB` : `${n / 1024} KiB`);

  const dir = mkdtempSync(join(existsShm() ? "/dev/shm" : tmpdir(), "zpipes-bench-"));
  const file = join(dir, "payload.bin");
  const pool = makePool(chunk);
  const fd = openSync(file, "w");
  for (let i = 0; i * chunk < bytes; i++) writeSync(fd, pool[i % POOL], 0, Math.min(chunk, bytes - i * chunk));
  closeSync(fd);

  // Configurations: the client API with each READ size, then the Node stream
  // adapters (64 KiB chunks into a Writable, a Readable with 64 KiB READs).
  // Each with a fresh broker per run (cold: its JIT and heap warm up during
  // the transfer), except "warm broker": one broker for every run, after
  // warmBytes carried and not measured, as a long-running zbroker is. "libzmq":
  // broker and clients through libzmq sockets (--no-direct, direct: false),
  // the path every chunk took before they spoke ZMTP themselves.
  const configs = [
    ...readSizes.map((readSize) => ({ label: `client API, ${kib(readSize)} READs`, readSize, streams: false })),
    ...(values["no-streams"] ? [] : [{ label: `streams, ${kib(chunk)} READs`, readSize: chunk, streams: true }]),
    { label: `client API, ${kib(chunk)}, warm broker`, readSize: chunk, streams: false, warm: true },
    { label: `client API, ${kib(chunk)}, warm, 16 in flight`, readSize: chunk, streams: false, warm: true, window: 16 },
    { label: `client API, ${kib(chunk)}, libzmq`, readSize: chunk, streams: false, libzmq: true },
  ];
  const results = new Map(configs.map((c) => [c.label, []]));
  const cpu = new Map(configs.map((c) => [c.label, []]));
  const pipe = [];
  let warmBroker = null;
  try {
    if (configs.some((c) => c.warm)) {
      warmBroker = await startBroker(`bench-${process.pid}-warm`, values["broker-args"]?.split(" ").filter(Boolean) ?? []);
      for (let left = warmBytes; left > 0; left -= bytes) {
        await transfer({ writerEndpoint: warmBroker.endpoint, readerEndpoint: warmBroker.endpoint, bytes: Math.min(bytes, left), chunk, window });
      }
    }
    // Interleaved, so background load on a shared machine hits every configuration alike.
    for (let run = 0; run < runs; run++) {
      for (const [k, { label, readSize, streams, warm, libzmq, window: w }] of configs.entries()) {
        const brokerArgs = [
          ...(values["slow-path"] ? ["--slow-path"] : []),
          ...(libzmq ? ["--no-direct"] : []),
          ...(values["broker-args"]?.split(" ").filter(Boolean) ?? []),
        ];
        const broker = warm ? warmBroker : await startBroker(`bench-${process.pid}-${run}-${k}`, brokerArgs);
        try {
          const t = await transfer({ writerEndpoint: broker.endpoint, readerEndpoint: broker.endpoint, bytes, chunk, window: w ?? window, readSize, streams, brokerPids: [broker.pid], direct: !libzmq });
          results.get(label).push(t.mbps);
          cpu.get(label).push(t.cpuMs);
        } finally {
          if (!warm) await broker.stop();
        }
      }
      pipe.push((await unixPipe(file, bytes)).mbps);
    }
  } finally {
    await warmBroker?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const ceiling = median(pipe);
  const fmt = (x) => x.toFixed(1);
  console.log(`zpipes bench: ${bytes / 2 ** 20} MiB written as ${kib(chunk)} chunks (client API: one WRITE each; streams: coalesced under backpressure), writer and reader in separate processes (started with glibc tuned as the zpipe command starts them, and primed), broker in its own (the zbroker command, tuned the same way; VTX_NO_MALLOC_TUNING=1 turns the tuning off), median of ${runs} runs, ${window} calls in flight unless the row says otherwise; "warm" rows: one broker that carried ${warmBytes / 2 ** 20} MiB before them`);
  const out = { unixPipe: ceiling, oneBroker: {}, runs: { unixPipe: pipe } };
  for (const [label, xs] of results) {
    const m = median(xs);
    out.oneBroker[label] = m;
    out.runs[label] = xs;
    console.log(`  one broker, ${label.padEnd(32)} ${fmt(m).padStart(7)} MB/s   (runs ${xs.map(fmt).join(", ")})   ${fmt((m / ceiling) * 100)} % of cat|cat, ${(m / 241).toFixed(2)}–${(m / 157).toFixed(2)}x the C original`);
  }
  console.log(`  unix pipe (cat | cat)                   ${fmt(ceiling).padStart(7)} MB/s   (runs ${pipe.map(fmt).join(", ")})`);
  console.log(`  CPU per transfer (median ms, user+system, all threads): writer / reader / broker`);
  for (const [label, xs] of cpu) {
    const med = (f) => median(xs.map(f)).toFixed(0);
    console.log(`    ${label.padEnd(32)} ${med((c) => c.writer)} / ${med((c) => c.reader)} / ${med((c) => c.brokers[0])}`);
  }
  console.log(`  anchors: C original 157–241 MB/s through one broker; bar >= 600 MB/s`);
  const verdict = (label) => (out.oneBroker[label] === undefined ? "not run" : out.oneBroker[label] >= 600 ? "met" : "NOT met");
  console.log(`  bar >= 600 MB/s (64 KiB WRITEs and READs, ${window} in flight): fresh broker ${verdict(`client API, ${kib(chunk)} READs`)}, warm broker ${verdict(`client API, ${kib(chunk)}, warm broker`)}`);
  return out;
}

function existsShm() {
  return process.platform === "linux" && existsSync("/dev/shm");
}

const roleIdx = process.argv.indexOf("--role");
if (roleIdx > 0) {
  const role = process.argv[roleIdx + 1];
  const args = JSON.parse(process.argv[process.argv.indexOf("--args") + 1]);
  // Named, so per-process profiles (perf, top) tell the roles apart.
  process.title = `zp-${role}`;
  (role === "writer" ? writerRole(args) : readerRole(args)).then(
    () => process.disconnect(),
    (err) => {
      console.error(`${role}: ${err?.code ?? ""} ${err?.message ?? err}`);
      process.exit(1);
    },
  );
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
