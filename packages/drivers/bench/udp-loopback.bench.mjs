#!/usr/bin/env node
/**
 * The VXU protocol layer (no zeromq, no driver) over real UDP sockets on
 * 127.0.0.1, sender and receiver in two processes: N messages of 64 B sent in
 * bursts of 1024 with one turn of the event loop between bursts (the driver
 * flushes at the end of each burst). Reports messages/s as the receiver saw
 * them (first to last arrival) and how many arrived.
 *
 *   pnpm build && node packages/drivers/bench/udp-loopback.bench.mjs [--n 200000] [--size 64] [--datagram 1200]
 *
 * Anchor, measured in the same run: the same messages as bare datagrams, one
 * per message (what a socket does without batching; the issue measured at
 * most ~250K datagrams/s per Node UDP socket here). Bar for the whole driver:
 * 200K msg/s of 64 B.
 */
import { fork } from "node:child_process";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { parseArgs } from "node:util";
import { Batcher, ReliableChannel, dispatchCommands, parseDatagram, sealDatagram } from "../dist/udp/protocol.js";

const { values } = parseArgs({ options: { n: { type: "string", default: "200000" }, size: { type: "string", default: "64" }, datagram: { type: "string", default: "1200" }, child: { type: "string" } } });
const N = Number(values.n);
const SIZE = Number(values.size);
const DATAGRAM = Number(values.datagram);
const BURST = 1024;
const turn = () => new Promise((r) => setImmediate(r));

if (values.child !== undefined) {
  // ---------------------------------------------------------------- receiver
  const mode = values.child;
  const sock = createSocket("udp4");
  sock.bind(0, "127.0.0.1");
  await once(sock, "listening");
  sock.setRecvBufferSize(4 << 20);
  let received = 0;
  let first = 0;
  let last = 0;
  let idle;
  const finish = () => {
    process.send({ received, ms: last - first });
    sock.close();
  };
  const arrived = () => {
    const now = performance.now();
    if (first === 0) first = now;
    last = now;
    clearTimeout(idle);
    if (received >= N) finish();
    else idle = setTimeout(finish, 1000);
  };
  const sink = { message: () => void received++, fragment: () => {}, control: () => {} };
  let channel;
  sock.on("message", (dg, rinfo) => {
    if (mode === "anchor") received++;
    else if (mode === "plain") dispatchCommands(dg, parseDatagram(dg).bodyOffset, sink);
    else {
      channel ??= new ReliableChannel({ session: 2, transmit: (d) => sock.send(d, rinfo.port, "127.0.0.1") });
      const now = performance.now();
      channel.receive(parseDatagram(dg), dg, now, (d, off) => dispatchCommands(d, off, sink));
      channel.poll(now);
    }
    arrived();
  });
  process.send({ port: sock.address().port });
} else {
  // ---------------------------------------------------------------- sender
  const run = async (mode) => {
    const child = fork(new URL(import.meta.url).pathname, ["--child", mode, "--n", String(N), "--size", String(SIZE)]);
    const [{ port }] = await once(child, "message");
    const sock = createSocket("udp4");
    sock.bind(0, "127.0.0.1");
    await once(sock, "listening");
    sock.setSendBufferSize(4 << 20);
    const payload = Buffer.alloc(SIZE, 7);
    const msg = [payload];
    const result = once(child, "message");
    let datagrams = 0;
    const send = (dg) => {
      datagrams++;
      sock.send(dg, port, "127.0.0.1");
    };
    let timer;
    if (mode === "anchor") {
      for (let i = 0; i < N; i += BURST) {
        for (let j = 0; j < BURST && i + j < N; j++) send(payload);
        await turn();
      }
    } else if (mode === "plain") {
      let seq = 0;
      const b = new Batcher((room) => send(sealDatagram(room, false, 1, seq++, false)), { maxDatagram: DATAGRAM });
      for (let i = 0; i < N; i += BURST) {
        for (let j = 0; j < BURST && i + j < N; j++) b.add(msg);
        b.flush();
        await turn();
      }
    } else {
      let now = performance.now();
      const ch = new ReliableChannel({ session: 1, transmit: send });
      sock.on("message", (dg) => ch.receive(parseDatagram(dg), dg, performance.now(), () => {}));
      const b = new Batcher((room) => ch.send(room, true, now), { reliable: true, maxDatagram: DATAGRAM });
      timer = setInterval(() => ch.poll(performance.now()), 2);
      let i = 0;
      while (i < N) {
        now = performance.now();
        for (let j = 0; j < BURST && i < N && ch.canSend; j++, i++) b.add(msg);
        b.flush();
        ch.poll(now);
        await turn();
      }
    }
    const [{ received, ms }] = await result;
    clearInterval(timer);
    sock.close();
    return { mode, received, datagrams, msgPerSec: Math.round((received / ms) * 1000) };
  };

  const results = [];
  for (const mode of ["anchor", "plain", "reliable"]) results.push(await run(mode));
  const anchor = results[0];
  console.log(`${N} × ${SIZE} B over loopback UDP, ${DATAGRAM}-octet datagrams, two processes (node ${process.version})`);
  for (const r of results) {
    console.log(
      `${r.mode.padEnd(9)} ${String(r.msgPerSec).padStart(9)} msg/s  received ${r.received}/${N}  datagrams sent ${r.datagrams}  ratio to anchor ${(r.msgPerSec / anchor.msgPerSec).toFixed(2)}`,
    );
  }
}
