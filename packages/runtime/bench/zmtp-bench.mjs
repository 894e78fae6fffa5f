#!/usr/bin/env node
/**
 * ZMTP engine throughput against native libzmq, measured in the same run.
 *
 *   npx tsc -b packages/runtime && node packages/runtime/bench/zmtp-bench.mjs [--count 300000] [--size 64] [--frames 1] [--runs 3]
 *
 * Anchor: native zeromq.js PUSH -> native PULL over tcp://127.0.0.1 (libzmq
 * does framing, batching and I/O in C++ threads). Compared with it:
 *   - native PUSH -> engine PULL  (node net.Socket + ZmtpEngine decoding)
 *   - engine PUSH -> native PULL  (ZmtpEngine encoding, writes coalesced per
 *     event-loop turn, as a driver should; and one write per message)
 *   - codec only: encodeMessage + FrameDecoder in memory, no sockets.
 * Medians of --runs; prints msg/s and the ratio to the anchor.
 */
import * as net from "node:net";
import { parseArgs } from "node:util";
import * as zmq from "zeromq";
import { FrameDecoder, ZmtpEngine, encodeMessage, encodeMessageInto, encodedMessageSize } from "../dist/zmtp/index.js";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "300000" },
    size: { type: "string", default: "64" },
    frames: { type: "string", default: "1" },
    runs: { type: "string", default: "3" },
  },
});
const N = Number(values.count);
const SIZE = Number(values.size);
const FRAMES = Number(values.frames);
const RUNS = Number(values.runs);
const message = Array.from({ length: FRAMES }, (_, i) => Buffer.alloc(SIZE, i + 1));
const TIMEOUT_MS = 120_000;

function deadline(what) {
  let timer;
  const p = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`bench step timed out: ${what}`)), TIMEOUT_MS);
  });
  return { p, clear: () => clearTimeout(timer) };
}

const portOf = (s) => Number(new URL(s.lastEndpoint.replace("tcp:", "http:")).port);

async function nativeToNative() {
  const pull = new zmq.Pull({ linger: 0 });
  await pull.bind("tcp://127.0.0.1:*");
  const push = new zmq.Push({ linger: 0, sendHighWaterMark: 100_000 });
  push.connect(pull.lastEndpoint);
  const d = deadline("native->native");
  const t0 = process.hrtime.bigint();
  const recv = (async () => {
    let n = 0;
    for await (const _ of pull) if (++n === N) break;
  })();
  for (let i = 0; i < N; i++) await push.send(message);
  await Promise.race([recv, d.p]);
  const ns = Number(process.hrtime.bigint() - t0);
  d.clear();
  push.close();
  pull.close();
  return (N / ns) * 1e9;
}

/**
 * The smallest sensible driver: small encodings are coalesced into one write
 * per event-loop turn; a big one (or the chunks of `sendv`) flushes what is
 * pending and goes out by reference, so big bodies are never re-copied.
 */
const COALESCE_LIMIT = 16 * 1024;
function engineSocket(socket, socketType, onMessage, batching) {
  socket.setNoDelay(true);
  if (batching === "engine") return engineBatchedSocket(socket, socketType, onMessage);
  let pending = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const chunk = pending.length === 1 ? pending[0] : Buffer.concat(pending);
    pending = [];
    socket.write(chunk);
  };
  let ready;
  const isReady = new Promise((r) => (ready = r));
  const engine = new ZmtpEngine(
    { socketType },
    {
      send: batching
        ? (bytes) => {
            if (bytes.length >= COALESCE_LIMIT) {
              flush();
              socket.write(bytes);
              return;
            }
            pending.push(bytes);
            if (!scheduled) {
              scheduled = true;
              setImmediate(flush);
            }
          }
        : (bytes) => socket.write(bytes),
      sendv: (chunks) => {
        flush();
        socket.cork();
        for (const c of chunks) socket.write(c);
        socket.uncork();
      },
      ready: () => ready(),
      message: onMessage,
      error: (err) => {
        console.error("engine error", err);
        socket.destroy();
      },
    },
  );
  socket.on("data", (chunk) => engine.push(chunk));
  engine.start();
  return { engine, isReady };
}

/** The engine's own batching: messages encoded back to back into 64 KiB, flushed once per turn. */
function engineBatchedSocket(socket, socketType, onMessage) {
  let ready;
  const isReady = new Promise((r) => (ready = r));
  let scheduled = false;
  const engine = new ZmtpEngine(
    { socketType, batchSize: 64 * 1024 },
    {
      send: (bytes) => socket.write(bytes),
      sendv: (chunks) => {
        socket.cork();
        for (const c of chunks) socket.write(c);
        socket.uncork();
      },
      ready: () => ready(),
      message: onMessage,
      error: (err) => {
        console.error("engine error", err);
        socket.destroy();
      },
    },
  );
  const flush = () => {
    scheduled = false;
    engine.flush();
  };
  const send = engine.sendMessage.bind(engine);
  engine.sendMessage = (frames) => {
    send(frames);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  socket.on("data", (chunk) => engine.push(chunk));
  engine.start();
  return { engine, isReady };
}

/** Two engines in memory: PUSH's output gathered into ~64 KiB reads pushed into PULL. */
function enginePair() {
  let received = 0;
  let out = [];
  let outBytes = 0;
  let pull;
  const push = new ZmtpEngine(
    { socketType: "PUSH" },
    {
      send: (b) => {
        out.push(b);
        outBytes += b.length;
      },
      ready: () => undefined,
      message: () => undefined,
      error: (e) => {
        throw e;
      },
    },
  );
  pull = new ZmtpEngine(
    { socketType: "PULL" },
    {
      send: (b) => push.push(b),
      ready: () => undefined,
      message: () => void received++,
      error: (e) => {
        throw e;
      },
    },
  );
  const drain = () => {
    if (out.length === 0) return;
    const chunk = out.length === 1 ? out[0] : Buffer.concat(out, outBytes);
    out = [];
    outBytes = 0;
    pull.push(chunk);
  };
  push.start();
  pull.start();
  drain();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    push.sendMessage(message);
    if (outBytes >= 65536) drain();
  }
  drain();
  const ns = Number(process.hrtime.bigint() - t0);
  if (received !== N) throw new Error(`engine pair lost messages: ${received}`);
  return (N / ns) * 1e9;
}

async function nativeToEngine() {
  let received = 0;
  let done;
  const finished = new Promise((r) => (done = r));
  const server = net.createServer((socket) => {
    engineSocket(socket, "PULL", () => {
      if (++received === N) done();
    }, true);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const push = new zmq.Push({ linger: 0, sendHighWaterMark: 100_000 });
  push.connect(`tcp://127.0.0.1:${server.address().port}`);
  const d = deadline("native->engine");
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await push.send(message);
  await Promise.race([finished, d.p]);
  const ns = Number(process.hrtime.bigint() - t0);
  d.clear();
  push.close();
  server.close();
  for (const s of await new Promise((r) => server.getConnections(() => r([])))) s.destroy();
  return (N / ns) * 1e9;
}

async function engineToNative(batching) {
  const pull = new zmq.Pull({ linger: 0 });
  await pull.bind("tcp://127.0.0.1:*");
  const socket = net.connect(portOf(pull), "127.0.0.1");
  await new Promise((r) => socket.once("connect", r));
  const { engine, isReady } = engineSocket(socket, "PUSH", () => undefined, batching);
  await isReady;
  const d = deadline("engine->native");
  const t0 = process.hrtime.bigint();
  const recv = (async () => {
    let n = 0;
    for await (const _ of pull) if (++n === N) break;
  })();
  // Send in slices, yielding to the event loop so writes flush and 'data' can run.
  const SLICE = 1000;
  for (let i = 0; i < N; i += SLICE) {
    for (let j = i; j < Math.min(N, i + SLICE); j++) engine.sendMessage(message);
    if (socket.writableLength > 4 * 1024 * 1024) await new Promise((r) => socket.once("drain", r));
    else await new Promise((r) => setImmediate(r));
  }
  await Promise.race([recv, d.p]);
  const ns = Number(process.hrtime.bigint() - t0);
  d.clear();
  socket.destroy();
  pull.close();
  return (N / ns) * 1e9;
}

function codecOnly() {
  // Encode N messages into 64 KiB "reads", then decode them.
  const per = encodedMessageSize(message);
  const perChunk = Math.max(1, Math.floor(65536 / per));
  let decoded = 0;
  const decoder = new FrameDecoder({ message: () => void decoded++, command: () => undefined, error: (e) => { throw e; } });
  const t0 = process.hrtime.bigint();
  let left = N;
  while (left > 0) {
    const k = Math.min(perChunk, left);
    const chunk = Buffer.allocUnsafe(k * per);
    let at = 0;
    for (let i = 0; i < k; i++) at = encodeMessageInto(message, chunk, at);
    decoder.push(chunk);
    left -= k;
  }
  const ns = Number(process.hrtime.bigint() - t0);
  if (decoded !== N) throw new Error("codec lost messages");
  return (N / ns) * 1e9;
}

function encodeOnly() {
  const t0 = process.hrtime.bigint();
  let bytes = 0;
  for (let i = 0; i < N; i++) bytes += encodeMessage(message).length;
  const ns = Number(process.hrtime.bigint() - t0);
  if (bytes === 0) throw new Error("nothing encoded");
  return (N / ns) * 1e9;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function measure(name, fn) {
  const xs = [];
  for (let r = 0; r < RUNS; r++) xs.push(await fn());
  return { name, rate: median(xs) };
}

console.log(`ZMTP engine bench: ${N} messages of ${FRAMES} x ${SIZE} B, median of ${RUNS} runs, libzmq ${zmq.version}, node ${process.version}`);
const anchor = await measure("native PUSH -> native PULL (anchor)", nativeToNative);
const rows = [
  anchor,
  await measure("native PUSH -> engine PULL", nativeToEngine),
  await measure("engine PUSH -> native PULL (engine batchSize 64K, flush per turn)", () => engineToNative("engine")),
  await measure("engine PUSH -> native PULL (driver concat per turn)", () => engineToNative(true)),
  await measure("engine PUSH -> native PULL (one write per message)", () => engineToNative(false)),
  await measure("in memory: engine PUSH -> engine PULL", async () => enginePair()),
  await measure("codec only: encodeMessageInto + FrameDecoder", async () => codecOnly()),
  await measure("codec only: encodeMessage (one Buffer per message)", async () => encodeOnly()),
];
for (const r of rows) {
  console.log(`${r.name.padEnd(66)} ${Math.round(r.rate).toLocaleString("en").padStart(12)} msg/s  ${(r.rate / anchor.rate).toFixed(2)}x`);
}
process.exit(0);
