/**
 * Micro-benchmark of the VXU protocol layer, no sockets:
 *   npx vitest bench --run packages/drivers/bench/udp-codec.bench.ts
 * Each task moves 1000 messages, so msg/s = hz × 1000. The anchor in each
 * group is the bare copy of the same payload bytes into a buffer, the least
 * any encoder must do; the summary prints each task's ratio to it.
 * (The driver's bar: 200K msg/s of 64 B through the whole driver; one Node
 * UDP socket sends at most ~250K datagrams/s.)
 */
import { bench, describe } from "vitest";
import {
  Batcher,
  ReliableChannel,
  dispatchCommands,
  parseDatagram,
  sealDatagram,
  type DatagramSink,
} from "../src/udp/protocol.js";

const N = 1000;
const small = [new Uint8Array(64).fill(1)];
const multipart = [new Uint8Array(5).fill(2), new Uint8Array(0), new Uint8Array(64).fill(3)];
const kib = [new Uint8Array(1024).fill(4)];

let seq = 0;
const datagrams: Uint8Array[] = [];
const batcher = new Batcher((room) => datagrams.push(sealDatagram(room, false, 1, seq++, false)));

let frames = 0;
const sink: DatagramSink = {
  message: (f) => {
    frames += f.length;
  },
  fragment: () => {},
  control: () => {},
};

function encode(msg: Uint8Array[]): void {
  datagrams.length = 0;
  for (let i = 0; i < N; i++) batcher.add(msg);
  batcher.flush();
}

const copyTarget = new Uint8Array(1 << 20);
function anchorCopy(msg: Uint8Array[]): void {
  let off = 0;
  for (let i = 0; i < N; i++) {
    for (const f of msg) {
      if (off + f.length > copyTarget.length) off = 0;
      copyTarget.set(f, off);
      off += f.length;
    }
  }
}

encode(small);
const smallDatagrams = datagrams.slice();
encode(kib);
const kibDatagrams = datagrams.slice();

describe("encode 1000 × 64 B", () => {
  bench("anchor: copy the payload only", () => anchorCopy(small));
  bench("Batcher.add + flush (seal U)", () => encode(small));
  bench("Batcher, 3-frame messages", () => encode(multipart));
});

describe("decode 1000 × 64 B (59 datagrams)", () => {
  bench("anchor: copy the payload only", () => anchorCopy(small));
  bench("parseDatagram + dispatchCommands", () => {
    for (const dg of smallDatagrams) dispatchCommands(dg, parseDatagram(dg).bodyOffset, sink);
  });
});

describe("1000 × 1 KiB", () => {
  bench("anchor: copy the payload only", () => anchorCopy(kib));
  bench("encode", () => encode(kib));
  bench("decode", () => {
    for (const dg of kibDatagrams) dispatchCommands(dg, parseDatagram(dg).bodyOffset, sink);
  });
});

describe("reliable round trip 1000 × 64 B, in memory", () => {
  let now = 0;
  // Assigned once below; declared first because a's transmit closure needs it.
  // eslint-disable-next-line prefer-const
  let b: ReliableChannel;
  const a: ReliableChannel = new ReliableChannel({
    session: 1,
    window: 1024,
    transmit: (dg) => b.receive(parseDatagram(dg), dg, now, (d, off) => dispatchCommands(d, off, sink)),
  });
  b = new ReliableChannel({ session: 2, window: 1024, transmit: (dg) => a.receive(parseDatagram(dg), dg, now, () => {}) });
  const rb = new Batcher((room) => a.send(room, true, now), { reliable: true });
  bench("batch + seal R + parse + in-order delivery + acks", () => {
    now++;
    for (let i = 0; i < N; i++) rb.add(small);
    rb.flush();
    b.poll(now + 10);
  });
});

export { frames };
