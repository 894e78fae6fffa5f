#!/usr/bin/env node
/**
 * `pnpm bench`: every benchmark, one after the other (never in parallel:
 * they would measure each other). Each prints the anchor it is compared
 * with, measured in the same run, and the ratio.
 *
 *   pnpm bench              # all
 *   pnpm bench ztcp zpipes  # those whose name contains one of the words
 *   pnpm bench --tuned tls  # every process (anchors too) started with
 *                           # GLIBC_TUNABLES=STREAMING_GLIBC_TUNABLES, as an
 *                           # application may be launched (docs/benchmarks.md)
 *
 * Figures on a shared machine are noisy: the load average is printed
 * before each bench so a reader can judge.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const BENCHES = [
  { name: "ztcp", file: "packages/drivers/bench/ztcp-bench.mjs" },
  { name: "udp", file: "packages/drivers/bench/udp-bench.mjs" },
  { name: "tls", file: "packages/drivers/bench/tls-bench.mjs" },
  { name: "ws", file: "packages/drivers/bench/ws-bench.mjs" },
  { name: "zmtp-engine", file: "packages/runtime/bench/zmtp-bench.mjs" },
  { name: "zpipes", file: "packages/zpipes/bench/zpipes-bench.mjs" },
  { name: "zpipes-cluster", file: "packages/zpipes/bench/cluster-bench.mjs" },
];

const args = process.argv.slice(2);
const tuned = args.includes("--tuned");
const wanted = args.filter((a) => a !== "--tuned");
// Built by `pnpm bench` before this runs.
const { STREAMING_GLIBC_TUNABLES } = await import(pathToFileURL(join(root, "packages/runtime/dist/malloc-tuning.js")).href);
const env = tuned ? { ...process.env, GLIBC_TUNABLES: STREAMING_GLIBC_TUNABLES } : process.env;
if (tuned) console.log(`glibc tuned for every process of every bench: GLIBC_TUNABLES=${STREAMING_GLIBC_TUNABLES}`);
let failed = 0;
for (const b of BENCHES) {
  if (wanted.length > 0 && !wanted.some((w) => b.name.includes(w))) continue;
  const path = join(root, b.file);
  if (!existsSync(path)) {
    console.log(`\n### ${b.name}: ${b.file} not present, skipped`);
    continue;
  }
  console.log(`\n### ${b.name} (${b.file}) — load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  const r = spawnSync(process.execPath, [path], { stdio: "inherit", cwd: root, env });
  if (r.status !== 0) {
    failed++;
    console.log(`### ${b.name} exited with ${r.status ?? r.signal}`);
  }
}
process.exit(failed > 0 ? 1 : 0);
