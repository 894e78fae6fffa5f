#!/usr/bin/env node
/**
 * udp:// vs native tcp://, two processes, same run (issue 5's bars):
 *   PUSH→PULL 64 B      (bars: udp ≥ 0.6× native msg/s, and ≥ 200K msg/s)
 *   PUSH→PULL 1 KiB     (reported, no bar)
 *   REQ/REP round trip  (bar: udp ≤ 1.3× native µs)
 * Both ends of the udp case are vtx sockets (driver in a worker on each
 * side) on 127.0.0.1, in reliable mode (every message must arrive to be
 * counted, and reliable mode is the one with flow control); both ends of the
 * anchor are plain zeromq.js sockets. Runs are interleaved (native, udp,
 * native, ...) and medians reported, since the machine is shared and noisy.
 *
 *   pnpm build && node packages/drivers/bench/udp-bench.mjs [--runs 5] [--quick] [--plain]
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import * as zmq from "zeromq";
import { Vtx } from "@vtx/runtime";
import { udp } from "@vtx/drivers";
import { fmt, median, openNative, openVtx, roundTrip, runChild, throughput } from "./two-process.mjs";

const HERE = fileURLToPath(import.meta.url);

/** Opens a socket on `transport`: a plain zeromq.js socket, or a vtx one over udp. */
async function open(transport, type, reliable) {
  if (transport === "tcp") return openNative(zmq, type, "tcp://127.0.0.1:*");
  return openVtx(Vtx, { udp: udp({ reliable }) }, type, "udp://127.0.0.1:0");
}


// Plain mode may lose messages: the receiving child then stops after 1 s
// without progress and reports what arrived (`lossy`).
const bench = {
  throughput: (transport, size, count, reliable) =>
    throughput(HERE, open, { transport, size, count, extra: reliable, lossy: !reliable }),
  roundTrip: (transport, count, reliable) => roundTrip(HERE, open, { transport, count, extra: reliable }),
};

async function main() {
  const { values } = parseArgs({ options: { runs: { type: "string", default: "5" }, quick: { type: "boolean", default: false }, plain: { type: "boolean", default: false } } });
  const runs = Number(values.runs);
  const q = values.quick ? 10 : 1;
  const reliable = !values.plain;
  const cases = [
    { name: "PUSH→PULL 64 B", fn: (t) => bench.throughput(t, 64, 300_000 / q, reliable), metric: "msgsPerSec", unit: "msg/s", better: "higher", bar: 0.6, floor: 200_000 },
    { name: "PUSH→PULL 1 KiB", fn: (t) => bench.throughput(t, 1024, 200_000 / q, reliable), metric: "msgsPerSec", unit: "msg/s", better: "higher" },
    { name: "REQ/REP round trip", fn: (t) => bench.roundTrip(t, 20_000 / q, reliable), metric: "us", unit: "µs", better: "lower", bar: 1.3 },
  ];
  console.log(`udp:// (${reliable ? "reliable" : "plain"} mode) vs native tcp:// — two processes, ${runs} interleaved runs each, medians; load average at start ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  const results = [];
  for (const c of cases) {
    const native = [];
    const virt = [];
    const lost = [];
    for (let r = 0; r < runs; r++) {
      native.push((await c.fn("tcp"))[c.metric]);
      const v = await c.fn("udp");
      virt.push(v[c.metric]);
      if (v.received !== undefined) lost.push(v.received);
    }
    const n = median(native);
    const v = median(virt);
    const ratio = v / n;
    let verdict = "";
    if (c.bar !== undefined) {
      const ok = (c.better === "higher" ? ratio >= c.bar : ratio <= c.bar) && (c.floor === undefined || v >= c.floor);
      verdict = `(bar ${c.better === "higher" ? "≥" : "≤"} ${c.bar}×${c.floor ? ` and ≥ ${fmt(c.floor)} ${c.unit}` : ""}) ${ok ? "MET" : "NOT MET"}`;
      results.push({ case: c.name, native: n, udp: v, ratio, bar: c.bar, met: ok });
    }
    console.log(`${c.name.padEnd(20)} native ${fmt(n).padStart(10)} ${c.unit}   udp ${fmt(v).padStart(10)} ${c.unit}   ratio ${ratio.toFixed(2)}× ${verdict}`);
    console.log(`${"".padEnd(20)} runs native [${native.map(fmt).join(", ")}] udp [${virt.map(fmt).join(", ")}]${reliable ? "" : ` received [${lost.join(", ")}]`}`);
  }
  console.log(`load average at end ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  return results;
}

if (process.argv[2] === "child") {
  await runChild(open);
} else {
  await main();
  process.exit(0);
}
