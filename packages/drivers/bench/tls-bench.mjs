#!/usr/bin/env node
/**
 * tls:// and CURVE, two processes, anchors measured in the same run (issue 3):
 *   tls PUSH→PULL 64 KiB vs raw node:tls streaming the same bytes (bar: ≥ 0.6× MB/s)
 *   CURVE vs NULL over ztcp, PUSH→PULL 64 B and 64 KiB            (ratio reported, no bar)
 * Both ends of every vtx case are vtx sockets (a driver worker on each
 * side). The raw anchor is a node:tls client writing 64 KiB buffers (with
 * backpressure) to a node:tls server that only counts bytes, with the same
 * certificate (EC P-256, made with openssl for the run). Runs are
 * interleaved (anchor, case, anchor, ...) and medians reported, since the
 * machine is shared and noisy.
 *
 *   pnpm build && node packages/drivers/bench/tls-bench.mjs [--runs 5] [--quick] [--only tls|curve]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as nodeTls from "node:tls";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import * as zmq from "zeromq";
import { Vtx } from "@vtx/runtime";
import { tls, ztcp } from "@vtx/drivers";
import { cpuMs, fmt, median, openVtx, runChild, spawnPeer, throughput } from "./two-process.mjs";

const HERE = fileURLToPath(import.meta.url);

function makePki() {
  const dir = mkdtempSync(join(tmpdir(), "vtx-bench-pki-"));
  const run = (...args) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  try {
    run("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=bench CA");
    run("req", "-new", ...ec, "-keyout", "s.key", "-out", "s.csr", "-subj", "/CN=127.0.0.1");
    execFileSync("sh", ["-c", "printf 'subjectAltName=IP:127.0.0.1\\n' > s.ext"], { cwd: dir });
    run("x509", "-req", "-in", "s.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1", "-extfile", "s.ext", "-out", "s.pem");
    const read = (f) => readFileSync(join(dir, f), "utf8");
    return { ca: read("ca.pem"), key: read("s.key"), cert: read("s.pem") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Opens a vtx socket on `transport`: "tls", "ztcp" (NULL) or "curve"
 * (ztcp with CURVE; the PULL side is the server).
 */
async function open(transport, type, ctx) {
  if (transport === "tls") {
    return openVtx(Vtx, { tls: tls({ key: ctx.pki.key, cert: ctx.pki.cert, ca: ctx.pki.ca }) }, type, "tls://127.0.0.1:0");
  }
  const curve =
    transport !== "curve" ? undefined
    : type === "PULL" ? { curveServer: true, curveSecretKey: ctx.curve.secretKey }
    : { curveServerKey: ctx.curve.publicKey };
  return openVtx(Vtx, { ztcp: ztcp() }, type, "ztcp://127.0.0.1:0", curve);
}


async function child() {
  const { transport, count, size, extra: ctx } = JSON.parse(process.argv[3]);
  const total = count * size;
  if (transport === "raw-tls") {
    // Counts bytes; timing from the first byte, like the PULL child in two-process.mjs.
    const server = nodeTls.createServer({ key: ctx.pki.key, cert: ctx.pki.cert }, (sock) => {
      let bytes = 0;
      let first = 0;
      const cpu0 = process.cpuUsage();
      const faults0 = process.resourceUsage().minorPageFault;
      sock.on("data", (chunk) => {
        if (bytes === 0) first = performance.now();
        bytes += chunk.length;
        if (bytes >= total) {
          const ms = performance.now() - first;
          process.send({ done: { ms, count: count - 1, bytes: total, faults: process.resourceUsage().minorPageFault - faults0, cpuMs: cpuMs(cpu0) } });
          sock.end();
          server.close();
        }
      });
    });
    server.listen(0, "127.0.0.1", () => process.send({ ready: String(server.address().port) }));
    await new Promise((r) => server.once("close", r));
    process.exit(0);
  }
  await runChild(open);
}

async function rawTls(size, count, ctx) {
  const peer = spawnPeer(HERE, { transport: "raw-tls", count, size, extra: ctx });
  const { ready } = await peer.next();
  const sock = nodeTls.connect({ host: "127.0.0.1", port: Number(ready), ca: ctx.pki.ca });
  await new Promise((resolve, reject) => sock.once("secureConnect", resolve).once("error", reject));
  sock.setNoDelay(true);
  const body = Buffer.alloc(size, 7);
  const done = peer.next();
  for (let i = 0; i < count; i++) {
    if (!sock.write(body)) await new Promise((r) => sock.once("drain", r));
  }
  const { done: r } = await done;
  sock.destroy();
  return { msgsPerSec: (r.count / r.ms) * 1000, mbPerSec: r.bytes / r.ms / 1000, faults: r.faults, cpuMs: r.cpuMs };
}

/** One run; also the CPU both processes spent (the sender's measured here, around the whole run). */
async function benchThroughput(transport, size, count, ctx) {
  const c0 = process.cpuUsage();
  const r = transport === "raw-tls" ? await rawTls(size, count, ctx) : await throughput(HERE, open, { transport, size, count, extra: ctx });
  return { ...r, senderCpuMs: cpuMs(c0) };
}

async function main() {
  const { values } = parseArgs({
    options: { runs: { type: "string", default: "5" }, quick: { type: "boolean", default: false }, only: { type: "string", default: "" } },
  });
  const runs = Number(values.runs);
  const q = values.quick ? 10 : 1;
  const ctx = { pki: makePki(), curve: zmq.curveKeyPair() };
  const cases = [
    { name: "tls PUSH→PULL 64 KiB", anchor: "raw-tls", anchorName: "node:tls", subject: "tls", size: 65536, count: 20_000 / q, metric: "mbPerSec", unit: "MB/s", bar: 0.6 },
    { name: "CURVE vs NULL 64 B", anchor: "ztcp", anchorName: "NULL", subject: "curve", size: 64, count: 200_000 / q, metric: "msgsPerSec", unit: "msg/s" },
    { name: "CURVE vs NULL 64 KiB", anchor: "ztcp", anchorName: "NULL", subject: "curve", size: 65536, count: 10_000 / q, metric: "mbPerSec", unit: "MB/s" },
  ];
  console.log(`tls:// and CURVE — two processes, ${runs} interleaved runs each, medians`);
  const results = [];
  for (const c of cases) {
    if (values.only !== "" && !c.name.toLowerCase().includes(values.only.toLowerCase())) continue;
    const anchor = [];
    const subject = [];
    const faults = { anchor: [], subject: [] };
    const cpu = { anchor: [], subject: [] };
    for (let r = 0; r < runs; r++) {
      const a = await benchThroughput(c.anchor, c.size, c.count, ctx);
      const b = await benchThroughput(c.subject, c.size, c.count, ctx);
      anchor.push(a[c.metric]);
      subject.push(b[c.metric]);
      faults.anchor.push(a.faults);
      faults.subject.push(b.faults);
      cpu.anchor.push(a.senderCpuMs + a.cpuMs);
      cpu.subject.push(b.senderCpuMs + b.cpuMs);
    }
    const a = median(anchor);
    const s = median(subject);
    const ratio = s / a;
    const verdict = c.bar === undefined ? "(reported)" : `(bar ≥ ${c.bar}×) ${ratio >= c.bar ? "MET" : "NOT MET"}`;
    console.log(
      `${c.name.padEnd(22)} ${c.anchorName.padEnd(8)} ${fmt(a).padStart(10)} ${c.unit}   ${c.subject.padEnd(5)} ${fmt(s).padStart(10)} ${c.unit}   ratio ${ratio.toFixed(2)}× ${verdict}`,
    );
    console.log(`${"".padEnd(22)} runs ${c.anchorName} [${anchor.map(fmt).join(", ")}] ${c.subject} [${subject.map(fmt).join(", ")}]`);
    console.log(`${"".padEnd(22)} receiver's page faults ${c.anchorName} [${faults.anchor.map(fmt).join(", ")}] ${c.subject} [${faults.subject.map(fmt).join(", ")}]`);
    console.log(`${"".padEnd(22)} CPU ms, both processes ${c.anchorName} [${cpu.anchor.map(fmt).join(", ")}] ${c.subject} [${cpu.subject.map(fmt).join(", ")}] (ratio of medians ${(median(cpu.subject) / median(cpu.anchor)).toFixed(2)}×)`);
    results.push({ case: c.name, anchor: a, subject: s, ratio, bar: c.bar, met: c.bar === undefined ? undefined : ratio >= c.bar });
  }
  return results;
}

if (process.argv[2] === "child") {
  await child();
} else {
  await main();
  process.exit(0);
}
