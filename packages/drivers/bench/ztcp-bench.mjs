#!/usr/bin/env node
/**
 * ztcp:// vs native tcp://, two processes, same run (issue 2's bars):
 *   PUSH→PULL 64 B      (bar: ztcp ≥ 0.5× native msg/s)
 *   PUSH→PULL 64 KiB    (bar: ztcp ≥ 0.7× native MB/s)
 *   REQ/REP round trip  (bar: ztcp ≤ 1.5× native µs)
 * Both ends of the ztcp case are vtx sockets (driver in a worker on each
 * side); both ends of the anchor are plain zeromq.js sockets. Runs are
 * interleaved (native, ztcp, native, ...) and medians reported, since the
 * machine is shared and noisy.
 *
 *   pnpm build && node packages/drivers/bench/ztcp-bench.mjs [--runs 5] [--quick]
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import * as zmq from "zeromq";
import { Vtx } from "@vtx/runtime";
import { ztcp } from "@vtx/drivers";
import { fmt, median, openNative, openVtx, roundTrip, runChild, throughput } from "./two-process.mjs";

const HERE = fileURLToPath(import.meta.url);

/** Opens a socket on `transport`: a plain zeromq.js socket, or a vtx one over ztcp. */
async function open(transport, type) {
  if (transport === "tcp") return openNative(zmq, type, "tcp://127.0.0.1:*");
  return openVtx(Vtx, { ztcp: ztcp() }, type, "ztcp://127.0.0.1:0");
}

const bench = {
  throughput: (transport, size, count) => throughput(HERE, open, { transport, size, count }),
  roundTrip: (transport, count) => roundTrip(HERE, open, { transport, count }),
};

async function main() {
  const { values } = parseArgs({ options: { runs: { type: "string", default: "5" }, quick: { type: "boolean", default: false } } });
  const runs = Number(values.runs);
  const q = values.quick ? 10 : 1;
  const cases = [
    { name: "PUSH→PULL 64 B", fn: (t) => bench.throughput(t, 64, 300_000 / q), metric: "msgsPerSec", unit: "msg/s", better: "higher", bar: 0.5 },
    { name: "PUSH→PULL 64 KiB", fn: (t) => bench.throughput(t, 65536, 20_000 / q), metric: "mbPerSec", unit: "MB/s", better: "higher", bar: 0.7 },
    { name: "REQ/REP round trip", fn: (t) => bench.roundTrip(t, 20_000 / q), metric: "us", unit: "µs", better: "lower", bar: 1.5 },
  ];
  console.log(`ztcp:// vs native tcp:// — two processes, ${runs} interleaved runs each, medians`);
  const results = [];
  for (const c of cases) {
    const native = [];
    const virt = [];
    for (let r = 0; r < runs; r++) {
      native.push((await c.fn("tcp"))[c.metric]);
      virt.push((await c.fn("ztcp"))[c.metric]);
    }
    const n = median(native);
    const v = median(virt);
    const ratio = v / n;
    const ok = c.better === "higher" ? ratio >= c.bar : ratio <= c.bar;
    console.log(
      `${c.name.padEnd(20)} native ${fmt(n).padStart(10)} ${c.unit}   ztcp ${fmt(v).padStart(10)} ${c.unit}   ratio ${ratio.toFixed(2)}× (bar ${c.better === "higher" ? "≥" : "≤"} ${c.bar}×) ${ok ? "MET" : "NOT MET"}`,
    );
    console.log(`${"".padEnd(20)} runs native [${native.map(fmt).join(", ")}] ztcp [${virt.map(fmt).join(", ")}]`);
    results.push({ case: c.name, native: n, ztcp: v, ratio, bar: c.bar, met: ok });
  }
  return results;
}

if (process.argv[2] === "child") {
  await runChild(open);
} else {
  await main();
  process.exit(0);
}
