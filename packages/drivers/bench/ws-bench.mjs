#!/usr/bin/env node
/**
 * vtx ws:// vs libzmq's native ws://, two processes, same run (issue 3's bar):
 *   PUSH→PULL 64 B      (bar: vtx ws ≥ 0.6× native ws msg/s)
 * Also reported, without a bar: PUSH→PULL 64 KiB (MB/s) and the REQ/REP
 * round trip (µs); and for the 64 B case, the same vtx path over ztcp://
 * as a reference, which shows how much of the gap is the WebSocket layer.
 * Both ends of the vtx case are vtx sockets (a ws driver in a worker on
 * each side); both ends of the anchor are plain zeromq.js sockets, for which
 * ws:// is libzmq's own. Runs are interleaved (native, vtx, native, ...) and
 * medians reported, since the machine is shared and noisy.
 *
 *   pnpm build && node packages/drivers/bench/ws-bench.mjs [--runs 5] [--quick]
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import * as zmq from "zeromq";
import { Vtx } from "@vtx/runtime";
import { ws, ztcp } from "@vtx/drivers";
import { fmt, median, openNative, openVtx, roundTrip, runChild, throughput } from "./two-process.mjs";

const HERE = fileURLToPath(import.meta.url);

/** Opens a socket: a plain zeromq.js one over libzmq's ws://, or a vtx one over the ws driver. */
async function open(transport, type) {
  if (transport === "native") return openNative(zmq, type, "ws://127.0.0.1:*/bench");
  // "ztcp": the same vtx path (bridges, engine, stream driver) over ZMTP/TCP, for reference.
  if (transport === "ztcp") return openVtx(Vtx, { ztcp: ztcp() }, type, "ztcp://127.0.0.1:0");
  return openVtx(Vtx, { ws: ws() }, type, "ws://127.0.0.1:0/bench");
}


/**
 * The native sender sends a fresh copy of bodies over 128 B each time:
 * libzmq's ws client masks a zero-copy buffer in place.
 */
const bench = {
  throughput: (transport, size, count) =>
    throughput(HERE, open, { transport, size, count, copy: transport === "native" && size > 128 }),
  roundTrip: (transport, count) => roundTrip(HERE, open, { transport, count }),
};

async function main() {
  const { values } = parseArgs({ options: { runs: { type: "string", default: "5" }, quick: { type: "boolean", default: false } } });
  const runs = Number(values.runs);
  const q = values.quick ? 10 : 1;
  const cases = [
    { name: "PUSH→PULL 64 B", fn: (t) => bench.throughput(t, 64, 200_000 / q), metric: "msgsPerSec", unit: "msg/s", better: "higher", bar: 0.6, reference: true },
    { name: "PUSH→PULL 64 KiB", fn: (t) => bench.throughput(t, 65536, 10_000 / q), metric: "mbPerSec", unit: "MB/s", better: "higher" },
    { name: "REQ/REP round trip", fn: (t) => bench.roundTrip(t, 10_000 / q), metric: "us", unit: "µs", better: "lower" },
  ];
  console.log(`vtx ws:// vs libzmq native ws:// — two processes, ${runs} interleaved runs each, medians`);
  const results = [];
  for (const c of cases) {
    const native = [];
    const virt = [];
    const ref = [];
    for (let r = 0; r < runs; r++) {
      native.push((await c.fn("native"))[c.metric]);
      virt.push((await c.fn("vtx"))[c.metric]);
      if (c.reference) ref.push((await c.fn("ztcp"))[c.metric]);
    }
    const n = median(native);
    const v = median(virt);
    const ratio = v / n;
    let verdict = "";
    if (c.bar !== undefined) {
      const ok = c.better === "higher" ? ratio >= c.bar : ratio <= c.bar;
      verdict = ` (bar ${c.better === "higher" ? "≥" : "≤"} ${c.bar}×) ${ok ? "MET" : "NOT MET"}`;
      results.push({ case: c.name, native: n, vtx: v, ratio, bar: c.bar, met: ok });
    } else {
      results.push({ case: c.name, native: n, vtx: v, ratio });
    }
    console.log(`${c.name.padEnd(20)} native ${fmt(n).padStart(10)} ${c.unit}   vtx ws ${fmt(v).padStart(10)} ${c.unit}   ratio ${ratio.toFixed(2)}×${verdict}`);
    console.log(`${"".padEnd(20)} runs native [${native.map(fmt).join(", ")}] vtx [${virt.map(fmt).join(", ")}]`);
    if (c.reference) {
      // Where the time goes: the same vtx path over ztcp:// (no WebSocket at all).
      console.log(`${"".padEnd(20)} reference: vtx ztcp ${fmt(median(ref))} ${c.unit} [${ref.map(fmt).join(", ")}], vtx ws / vtx ztcp ${(v / median(ref)).toFixed(2)}×`);
    }
  }
  return results;
}

if (process.argv[2] === "child") {
  await runChild(open);
} else {
  await main();
  process.exit(0);
}
