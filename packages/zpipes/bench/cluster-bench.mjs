#!/usr/bin/env node
/**
 * ZPIPES cluster throughput: N MiB (default 256) in 64 KiB chunks from a
 * writer process on broker A to a reader process on broker B, the two
 * brokers (built `zbroker` processes) clustered over ZRE in gossip mode on
 * loopback. Reuses zpipes-bench.mjs's verified `transfer` (the reader checks
 * every byte). Medians of --runs (default 5: runs here spread by ±20 %); MB = 10^6 bytes.
 *
 *   pnpm build && node packages/zpipes/bench/cluster-bench.mjs [--mib 256] [--runs 5] [--window 8] [--read-size 65536] [--cluster-window 8m] [--warm-mib 1024]
 *
 * Rows: a fresh pair per run (its first transfer, then the same pair's
 * second), and one warm pair measured --runs times after it carried
 * --warm-mib (default 1 GiB), as brokers in service are: a zbroker's CPU per
 * transfer keeps falling over its first ~1 GiB while V8 optimizes it.
 *
 * Anchor: the C original did 139.5 MB/s through two brokers over Zyre on this
 * machine class. Bar: ≥ 400 MB/s.
 */
import { readdirSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { startBroker, transfer } from "./zpipes-bench.mjs";

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** CPU ms (user, system) of the processes whose command line contains `tag` (Linux /proc). */
function cpuOf(tag) {
  const out = [];
  if (process.platform !== "linux") return out;
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!readFileSync(`/proc/${d}/cmdline`, "utf8").includes(tag)) continue;
      const f = readFileSync(`/proc/${d}/stat`, "utf8").split(") ")[1].split(" ");
      out.push({ pid: d, user: Number(f[11]) * 10, sys: Number(f[12]) * 10 });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Two clustered brokers (A fixed ZRE port, B dials it). */
export async function startClusterPair(tag, extra = []) {
  const port = 20000 + Math.floor(Math.random() * 30000);
  const common = ["--zre-host", "127.0.0.1", ...extra];
  const a = await startBroker(`${tag}-a`, ["--gossip", "none", "--zre-port", String(port), ...common]);
  const b = await startBroker(`${tag}-b`, ["--gossip", `tcp://127.0.0.1:${port}`, ...common]);
  return {
    a,
    b,
    async stop() {
      await Promise.all([a.stop(), b.stop()]);
    },
  };
}

export async function main(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: {
      mib: { type: "string" },
      runs: { type: "string" },
      chunk: { type: "string" },
      window: { type: "string" },
      "read-size": { type: "string" },
      "cluster-window": { type: "string" },
      "warm-mib": { type: "string" },
    },
  });
  const warmBytes = Number(values["warm-mib"] ?? 1024) * 2 ** 20;
  const bytes = Number(values.mib ?? 256) * 2 ** 20;
  const chunk = Number(values.chunk ?? 65536);
  const runs = Math.max(1, Number(values.runs ?? 5));
  const window = Number(values.window ?? 8);
  const readSize = Number(values["read-size"] ?? chunk);
  const extra = values["cluster-window"] ? ["--cluster-window", values["cluster-window"]] : [];
  const results = [];
  const cpu = [];
  // The same pair's second transfer: brokers that have served traffic before
  // (JIT-compiled, heaps grown), as long-running zbrokers are.
  const warm = [];
  for (let run = 0; run < runs; run++) {
    const tag = `cbench-${process.pid}-${run}`;
    const pair = await startClusterPair(tag, extra);
    try {
      // Warm-up: the first pipe also waits for the two brokers to find each other.
      await transfer({ writerEndpoint: pair.a.endpoint, readerEndpoint: pair.b.endpoint, bytes: 2 ** 20, chunk, window });
      const before = cpuOf(tag);
      results.push((await transfer({ writerEndpoint: pair.a.endpoint, readerEndpoint: pair.b.endpoint, bytes, chunk, window, readSize })).mbps);
      const after = cpuOf(tag);
      cpu.push(after.map((a) => {
        const b = before.find((x) => x.pid === a.pid) ?? { user: 0, sys: 0 };
        return `${a.user - b.user}+${a.sys - b.sys}`;
      }).join(" / "));
      warm.push((await transfer({ writerEndpoint: pair.a.endpoint, readerEndpoint: pair.b.endpoint, bytes, chunk, window, readSize })).mbps);
    } finally {
      await pair.stop();
    }
  }
  // One pair in service: warmBytes carried, then `runs` transfers measured.
  const steady = [];
  {
    const pair = await startClusterPair(`cbench-${process.pid}-steady`, extra);
    try {
      await transfer({ writerEndpoint: pair.a.endpoint, readerEndpoint: pair.b.endpoint, bytes: 2 ** 20, chunk, window });
      for (let left = warmBytes; left > 0; left -= bytes) {
        await transfer({ writerEndpoint: pair.a.endpoint, readerEndpoint: pair.b.endpoint, bytes: Math.min(bytes, left), chunk, window, readSize });
      }
      for (let run = 0; run < runs; run++) {
        steady.push((await transfer({ writerEndpoint: pair.a.endpoint, readerEndpoint: pair.b.endpoint, bytes, chunk, window, readSize })).mbps);
      }
    } finally {
      await pair.stop();
    }
  }
  const m = median(results);
  const fmt = (x) => x.toFixed(1);
  console.log(`zpipes cluster bench: ${bytes / 2 ** 20} MiB in ${chunk / 1024} KiB chunks, writer on broker A, reader on broker B (ZRE gossip, loopback), ${runs} runs (median), window ${window}, READ size ${readSize / 1024} KiB`);
  console.log(`  two brokers         ${fmt(m)} MB/s   runs: ${results.map(fmt).join(", ")}`);
  console.log(`  same pair, again    ${fmt(median(warm))} MB/s   runs: ${warm.map(fmt).join(", ")}   (warm brokers: their second transfer)`);
  console.log(`  warm pair           ${fmt(median(steady))} MB/s   runs: ${steady.map(fmt).join(", ")}   (one pair, after it carried ${warmBytes / 2 ** 20} MiB)`);
  console.log(`  ratio to C original (139.5 MB/s): ${(m / 139.5).toFixed(2)}x`);
  console.log(`  broker CPU ms per transfer (user+sys, A / B): ${cpu.join(", ")}`);
  console.log(`  bar ≥ 400 MB/s: fresh pair ${m >= 400 ? "met" : "NOT met"}, warm pair ${median(steady) >= 400 ? "met" : "NOT met"}`);
  return { twoBrokers: m, runs: results, warmPair: median(warm), warmRuns: warm, steadyPair: median(steady), steadyRuns: steady };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
