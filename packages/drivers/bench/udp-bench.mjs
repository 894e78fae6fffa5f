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
import { fork } from "node:child_process";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import * as zmq from "zeromq";
import { Vtx } from "@vtx/runtime";
import { udp } from "@vtx/drivers";

const HERE = fileURLToPath(import.meta.url);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Opens a socket on `transport`: a plain zeromq.js socket, or a vtx one over udp. */
async function open(transport, type, reliable) {
  if (transport === "tcp") {
    const cls = { PUSH: zmq.Push, PULL: zmq.Pull, REQ: zmq.Request, REP: zmq.Reply }[type];
    const s = new cls();
    return {
      s,
      bind: async () => (await s.bind("tcp://127.0.0.1:*"), s.lastEndpoint),
      connect: async (ep) => s.connect(ep),
      close: async () => s.close(),
    };
  }
  const vtx = new Vtx({ link: { heartbeatInterval: 0 } });
  vtx.register("udp", udp({ reliable }));
  const s = vtx.socket(type);
  return {
    s,
    vtx,
    bind: () => vtx.bind(s, "udp://127.0.0.1:0"),
    connect: async (ep) => {
      const up = vtx.waitFor((e) => e.type === "connected", 10_000);
      await vtx.connect(s, ep);
      await up;
    },
    close: () => vtx.destroy(),
  };
}

// ---- child: the receiving / replying side --------------------------------------

async function child() {
  const { role, transport, count, size, reliable } = JSON.parse(process.argv[3]);
  const side = await open(transport, role, reliable);
  const ep = await side.bind();
  process.send({ ready: ep });
  if (role === "PULL") {
    let first = 0;
    let bytes = 0;
    let n = 0;
    let last = 0;
    // Plain mode may lose messages: a watchdog (not a timer per message)
    // closes the socket after 1 s without progress; what arrived is reported.
    let seen = -1;
    const watchdog = reliable
      ? undefined
      : setInterval(() => {
          if (n === seen) side.s.close();
          seen = n;
        }, 1000);
    try {
      for (; n < count; n++) {
        const m = await side.s.receive();
        if (n === 0) first = performance.now();
        bytes += m[0].length;
        last = performance.now();
      }
    } catch (err) {
      if (reliable) throw err;
    }
    clearInterval(watchdog);
    const ms = last - first;
    if (reliable && bytes !== count * size) throw new Error(`received ${bytes} bytes, expected ${count * size}`);
    process.send({ done: { ms, count: n - 1, bytes, received: n } });
  } else {
    for (let i = 0; i < count; i++) {
      const [m] = await side.s.receive();
      await side.s.send(m);
    }
    process.send({ done: {} });
  }
  await side.close().catch(() => undefined);
  process.exit(0);
}

function spawnPeer(spec) {
  const p = fork(HERE, ["child", JSON.stringify(spec)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const next = () =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`bench peer silent for 120 s (${JSON.stringify(spec)})`)), 120_000);
      p.once("message", (m) => {
        clearTimeout(t);
        resolve(m);
      });
      p.once("exit", (code) => code !== 0 && reject(new Error(`bench peer exited with ${code}`)));
    });
  return { p, next };
}

async function throughput(transport, size, count, reliable) {
  const peer = spawnPeer({ role: "PULL", transport, count, size, reliable });
  const { ready } = await peer.next();
  const side = await open(transport, "PUSH", reliable);
  await side.connect(ready);
  const body = Buffer.alloc(size, 7);
  const done = peer.next();
  for (let i = 0; i < count; i++) await side.s.send(body);
  const { done: r } = await done;
  await side.close();
  return { msgsPerSec: (r.count / r.ms) * 1000, mbPerSec: r.bytes / r.ms / 1000, received: r.received };
}

async function roundTrip(transport, count, reliable) {
  const peer = spawnPeer({ role: "REP", transport, count, size: 0, reliable });
  const { ready } = await peer.next();
  const side = await open(transport, "REQ", reliable);
  await side.connect(ready);
  const body = Buffer.from("ping");
  // Warm-up outside the timing.
  const warm = Math.min(200, count / 10);
  for (let i = 0; i < warm; i++) {
    await side.s.send(body);
    await side.s.receive();
  }
  const t0 = performance.now();
  for (let i = warm; i < count; i++) {
    await side.s.send(body);
    await side.s.receive();
  }
  const us = ((performance.now() - t0) * 1000) / (count - warm);
  await peer.next();
  await side.close();
  return { us };
}

async function main() {
  const { values } = parseArgs({ options: { runs: { type: "string", default: "5" }, quick: { type: "boolean", default: false }, plain: { type: "boolean", default: false } } });
  const runs = Number(values.runs);
  const q = values.quick ? 10 : 1;
  const reliable = !values.plain;
  const cases = [
    { name: "PUSH→PULL 64 B", fn: (t) => throughput(t, 64, 300_000 / q, reliable), metric: "msgsPerSec", unit: "msg/s", better: "higher", bar: 0.6, floor: 200_000 },
    { name: "PUSH→PULL 1 KiB", fn: (t) => throughput(t, 1024, 200_000 / q, reliable), metric: "msgsPerSec", unit: "msg/s", better: "higher" },
    { name: "REQ/REP round trip", fn: (t) => roundTrip(t, 20_000 / q, reliable), metric: "us", unit: "µs", better: "lower", bar: 1.3 },
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
    const fmt = (x) => (x >= 1000 ? Math.round(x).toLocaleString("en-US") : x.toFixed(1));
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
  await child();
} else {
  await main();
  process.exit(0);
}
