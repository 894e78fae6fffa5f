#!/usr/bin/env node
/**
 * The ws driver's own layer, without bridges or zeromq.js: two ZMTP engines
 * talking ZWS 2.0 through the driver's transport (`ws` package, framing
 * adapter, Duplex) over loopback, in one process. Anchor, same run: the
 * bare `ws` package sending the same 64 B binary messages (what any ZWS
 * implementation on `ws` pays at least). Interleaved runs, medians.
 *
 *   pnpm build && node packages/drivers/bench/ws-layer-bench.mjs [--runs 5] [--count 300000]
 */
import { parseArgs } from "node:util";
import { WebSocket, WebSocketServer } from "ws";
import { DEFAULT_LINK_OPTIONS, parseEndpoint, zmtp } from "@vtx/runtime";
import { wsTransport } from "../dist/ws/transport.js";

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const BODY = Buffer.alloc(64, 7);
const yieldTurn = () => new Promise((r) => setImmediate(r));

/** The driver's layer: PUSH engine → ZWS → PULL engine. */
async function zwsLayer(count) {
  const t = wsTransport("ws", {});
  const opts = { ...DEFAULT_LINK_OPTIONS };
  let got = 0;
  let done;
  const finished = new Promise((r) => (done = r));
  const server = await t.listen(parseEndpoint("ws://127.0.0.1:0/bench"), opts, (duplex) => {
    const pull = new zmtp.ZmtpEngine({ socketType: "PULL" }, { send: (b) => duplex.write(b), ready: () => undefined, message: () => ++got === count && done(), error: (e) => console.error(e) });
    duplex.on("data", (c) => pull.push(c));
    pull.start();
  });
  const { duplex } = await t.dial(parseEndpoint(server.endpoint), opts, new AbortController().signal);
  let ready;
  const up = new Promise((r) => (ready = r));
  const push = new zmtp.ZmtpEngine({ socketType: "PUSH", batchSize: 65536 }, { send: (b) => duplex.write(b), ready: () => ready(), message: () => undefined, error: (e) => console.error(e) });
  duplex.on("data", (c) => push.push(c));
  push.start();
  await up;
  const t0 = performance.now();
  for (let sent = 0; sent < count; ) {
    for (let i = 0; i < 1000 && sent < count; i++, sent++) push.sendMessage([BODY]);
    push.flush();
    if (duplex.writableLength > 1 << 20) await new Promise((r) => duplex.once("drain", r));
    else await yieldTurn();
  }
  await finished;
  const ms = performance.now() - t0;
  duplex.destroy();
  server.close();
  return (count / ms) * 1000;
}

/** The anchor: bare `ws`, one binary message per 64 B body, the client's socket corked per batch. */
async function bareWs(count) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  await new Promise((r) => wss.once("listening", r));
  let got = 0;
  let done;
  const finished = new Promise((r) => (done = r));
  wss.on("connection", (s) => s.on("message", () => ++got === count && done()));
  const c = new WebSocket(`ws://127.0.0.1:${wss.address().port}/`, { perMessageDeflate: false });
  await new Promise((r) => c.once("open", r));
  const raw = c._socket;
  const t0 = performance.now();
  for (let sent = 0; sent < count; ) {
    raw.cork();
    for (let i = 0; i < 1000 && sent < count; i++, sent++) c.send(BODY);
    raw.uncork();
    if (c.bufferedAmount > 1 << 20) await new Promise((r) => raw.once("drain", r));
    else await yieldTurn();
  }
  await finished;
  const ms = performance.now() - t0;
  c.terminate();
  wss.close();
  return (count / ms) * 1000;
}

const { values } = parseArgs({ options: { runs: { type: "string", default: "5" }, count: { type: "string", default: "300000" } } });
const runs = Number(values.runs);
const count = Number(values.count);
const anchor = [];
const layer = [];
for (let r = 0; r < runs; r++) {
  anchor.push(await bareWs(count));
  layer.push(await zwsLayer(count));
}
const fmt = (x) => Math.round(x).toLocaleString("en-US");
const a = median(anchor);
const l = median(layer);
console.log(`ws driver layer (engine + ZWS framing + Duplex over ws), 64 B, one process, ${runs} interleaved runs, medians`);
console.log(`bare ws ${fmt(a)} msg/s   ZWS layer ${fmt(l)} msg/s   ratio ${(l / a).toFixed(2)}×`);
console.log(`runs bare [${anchor.map(fmt).join(", ")}] layer [${layer.map(fmt).join(", ")}]`);
process.exit(0);
