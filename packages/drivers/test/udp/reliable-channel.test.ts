import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  ReliableChannel,
  emptyRoom,
  parseDatagram,
  readHeader,
  type DatagramHeader,
} from "../../src/udp/protocol.js";
import { Link, type Endpoint } from "./link-sim.js";
import { hexFrames } from "./pipeline.js";

/** A channel whose transmissions are collected, for unit tests. */
function channel(options: Partial<ConstructorParameters<typeof ReliableChannel>[0]> = {}): { ch: ReliableChannel; out: Uint8Array[] } {
  const out: Uint8Array[] = [];
  const ch = new ReliableChannel({ session: 1, transmit: (dg) => out.push(dg), ...options });
  return { ch, out };
}

const headerOf = (dg: Uint8Array): DatagramHeader => readHeader(dg);

/** A sealed R or U datagram from a sender channel, for feeding a receiver. */
function datagrams(n: number, reliable: boolean, initialSeq = 0): Uint8Array[] {
  const { ch, out } = channel({ window: 1024, initialSeq });
  for (let i = 0; i < n; i++) ch.send(emptyRoom(), reliable, 0);
  return out;
}

describe("ReliableChannel receiving", () => {
  it("delivers R datagrams in order exactly once, buffering ahead of a gap", () => {
    const { ch } = channel();
    const dgs = datagrams(4, true);
    const order: number[] = [];
    const take = (i: number): string => ch.receive(headerOf(dgs[i] as Uint8Array), dgs[i] as Uint8Array, 0, (d) => order.push(headerOf(d).seq));
    expect(take(1)).toBe("buffered");
    expect(take(3)).toBe("buffered");
    expect(take(1)).toBe("duplicate");
    expect(order).toEqual([]);
    expect(take(0)).toBe("delivered");
    expect(order).toEqual([0, 1]);
    expect(take(2)).toBe("delivered");
    expect(order).toEqual([0, 1, 2, 3]);
    expect(take(2)).toBe("duplicate");
    expect(ch.stats).toMatchObject({ delivered: 4, duplicates: 2 });
  });

  it("acknowledges with the lowest missing seq and a mask of what is buffered beyond it", () => {
    const { ch, out } = channel();
    const dgs = datagrams(5, true);
    for (const i of [0, 2, 4]) ch.receive(headerOf(dgs[i] as Uint8Array), dgs[i] as Uint8Array, 0, () => {});
    // Out of order: the ack is due at once.
    expect(ch.nextDeadline()).toBe(0);
    ch.poll(0);
    expect(out.length).toBe(1);
    const h = parseDatagram(out[0] as Uint8Array);
    expect(h).toMatchObject({ reliable: false, hasAck: true, ackNext: 1, ackMask: 0b101 });
    expect(ch.stats.bareAcks).toBe(1);
    // Nothing more is owed.
    expect(ch.nextDeadline()).toBe(Infinity);
  });

  it("delays the ack of an in-order datagram by ackDelay, and rides it on the next datagram sent", () => {
    const { ch, out } = channel({ ackDelay: 5, ackEvery: 4 });
    const [dg] = datagrams(1, true);
    ch.receive(headerOf(dg as Uint8Array), dg as Uint8Array, 100, () => {});
    expect(ch.nextDeadline()).toBe(105);
    ch.send(emptyRoom(), false, 101);
    expect(headerOf(out[0] as Uint8Array)).toMatchObject({ hasAck: true, ackNext: 1 });
    expect(ch.nextDeadline()).toBe(Infinity);
  });

  it("drops R datagrams beyond the window", () => {
    const { ch } = channel({ window: 4 });
    const dgs = datagrams(6, true);
    expect(ch.receive(headerOf(dgs[5] as Uint8Array), dgs[5] as Uint8Array, 0, () => {})).toBe("outside-window");
    expect(ch.receive(headerOf(dgs[3] as Uint8Array), dgs[3] as Uint8Array, 0, () => {})).toBe("buffered");
  });

  it("drops duplicate U datagrams, counts gaps as loss and late ones as late", () => {
    const { ch } = channel();
    const dgs = datagrams(100, false);
    const take = (i: number): string => ch.receive(headerOf(dgs[i] as Uint8Array), dgs[i] as Uint8Array, 0, () => {});
    expect(take(0)).toBe("delivered");
    expect(take(3)).toBe("delivered");
    expect(ch.stats.lost).toBe(2);
    expect(take(2)).toBe("delivered");
    expect(take(2)).toBe("duplicate");
    expect(ch.stats.lost).toBe(1);
    expect(take(80)).toBe("delivered");
    expect(take(10)).toBe("late");
    expect(ch.stats).toMatchObject({ duplicates: 1, late: 1 });
  });

  it("crosses the 2^32 wrap of sequence numbers", () => {
    const start = 0xfffffffe;
    const { ch } = channel({ initialSeq: start });
    const dgs = datagrams(5, true, start);
    const seqs: number[] = [];
    for (const i of [1, 0, 4, 3, 2]) ch.receive(headerOf(dgs[i] as Uint8Array), dgs[i] as Uint8Array, 0, (d) => seqs.push(headerOf(d).seq));
    expect(seqs).toEqual([0xfffffffe, 0xffffffff, 0, 1, 2]);
  });
});

describe("ReliableChannel sending", () => {
  it("retransmits on RTO with doubling backoff, and fails after maxRetries", () => {
    const { ch, out } = channel({ rtoInitial: 100, maxRetries: 3 });
    ch.send(emptyRoom(), true, 0);
    expect(ch.nextDeadline()).toBe(100);
    ch.poll(100);
    expect(ch.nextDeadline()).toBe(300);
    ch.poll(300);
    expect(ch.nextDeadline()).toBe(700);
    ch.poll(700);
    expect(out.length).toBe(4);
    expect(new Set(out.map((d) => headerOf(d).seq))).toEqual(new Set([0]));
    expect(ch.failed).toBe(false);
    ch.poll(ch.nextDeadline());
    expect(ch.failed).toBe(true);
  });

  it("fast-retransmits a datagram once one 3 later is selectively acknowledged", () => {
    const { ch, out } = channel({ rtoInitial: 1000 });
    for (let i = 0; i < 5; i++) ch.send(emptyRoom(), true, 0);
    // The peer got 0, 2, 3, 4: next = 1, mask bits for 2, 3, 4.
    const ack = parseDatagram(sealAck(1, 0b111));
    ch.receive(ack, sealAck(1, 0b111), 50, () => {});
    expect(out.slice(5).map((d) => headerOf(d).seq)).toEqual([1]);
    expect(ch.stats).toMatchObject({ fastRetransmits: 1, inFlight: 4 });
    // Only seq 1 still needs a timer.
    expect(ch.nextDeadline()).toBeGreaterThan(50);
  });

  it("queues R datagrams beyond the window and sends them as acks open it", () => {
    const { ch, out } = channel({ window: 2 });
    for (let i = 0; i < 5; i++) ch.send(emptyRoom(), true, 0);
    expect(out.length).toBe(2);
    expect(ch.canSend).toBe(false);
    expect(ch.backlog).toBe(3);
    ch.receive(parseDatagram(sealAck(2, 0)), sealAck(2, 0), 1, () => {});
    expect(out.map((d) => headerOf(d).seq)).toEqual([0, 1, 2, 3]);
    ch.receive(parseDatagram(sealAck(4, 0)), sealAck(4, 0), 2, () => {});
    expect(ch.backlog).toBe(0);
    expect(ch.canSend).toBe(true);
  });

  it("ignores acks for datagrams never sent", () => {
    const { ch } = channel();
    ch.send(emptyRoom(), true, 0);
    ch.receive(parseDatagram(sealAck(9, 0)), sealAck(9, 0), 1, () => {});
    expect(ch.stats).toMatchObject({ bogusAcks: 1, inFlight: 1 });
  });

  it("estimates RTT from datagrams sent once", () => {
    const { ch } = channel({ rtoMin: 1 });
    ch.send(emptyRoom(), true, 0);
    ch.receive(parseDatagram(sealAck(1, 0)), sealAck(1, 0), 8, () => {});
    expect(ch.stats.srtt).toBe(8);
    expect(ch.stats.rto).toBe(8 + 16);
  });
});

/** A U datagram from the peer carrying only an ack block. */
function sealAck(next: number, mask: number): Uint8Array {
  const { ch } = channel({ window: 1024 });
  // Make the peer's receive side owe exactly this ack by construction is
  // roundabout; write the block directly instead.
  void ch;
  const room = emptyRoom();
  room.set([0x56, 0x58, 1, 0x02, 0, 0, 0, 2, 0, 0, 0, 0]);
  new DataView(room.buffer).setUint32(12, next);
  new DataView(room.buffer).setUint32(16, mask);
  return room;
}

// ---------------------------------------------------------------- over a lossy link

const arbMessage = fc.array(
  fc.oneof({ weight: 6, arbitrary: fc.uint8Array({ maxLength: 100 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 1000, maxLength: 5000 }) }),
  { minLength: 1, maxLength: 3 },
);

/** Drive both ends until everything is delivered or virtual time runs out. */
function run(link: Link, a: Endpoint, b: Endpoint, toB: Uint8Array[][], toA: Uint8Array[][]): void {
  let ia = 0;
  let ib = 0;
  for (let steps = 0; steps < 200_000 && link.now < 600_000; steps++) {
    // Applications send while the channel takes more (backpressure).
    while (ia < toB.length && a.channel.canSend) a.batcher.add(toB[ia++] as Uint8Array[]);
    while (ib < toA.length && b.channel.canSend) b.batcher.add(toA[ib++] as Uint8Array[]);
    a.batcher.flush();
    b.batcher.flush();
    if (b.rx.messages.length === toB.length && a.rx.messages.length === toA.length && ia === toB.length && ib === toA.length) return;
    if (a.channel.failed || b.channel.failed) return;
    if (!link.step([a, b])) return;
  }
}

describe("ReliableChannel pair over a lossy, reordering, duplicating link", () => {
  it("delivers every message in order exactly once, both ways", () => {
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.nat(),
          loss: fc.double({ min: 0, max: 0.3, noNaN: true }),
          duplicate: fc.double({ min: 0, max: 0.2, noNaN: true }),
          delay: fc.double({ min: 0.05, max: 5, noNaN: true }),
          jitter: fc.double({ min: 0, max: 20, noNaN: true }),
        }),
        fc.integer({ min: 1, max: 64 }),
        fc.array(arbMessage, { maxLength: 60 }),
        fc.array(arbMessage, { maxLength: 20 }),
        (linkOptions, window, toB, toA) => {
          const link = new Link(linkOptions);
          const [a, b] = link.pair(true, { window, maxRetries: 1000 });
          run(link, a, b, toB, toA);
          expect(a.channel.failed || b.channel.failed).toBe(false);
          expect(b.rx.messages.map(hexFrames)).toEqual(toB.map(hexFrames));
          expect(a.rx.messages.map(hexFrames)).toEqual(toA.map(hexFrames));
        },
      ),
      { numRuns: 150 },
    );
  });

  it("in plain mode delivers whole messages or nothing, each at most once", () => {
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.nat(),
          loss: fc.double({ min: 0, max: 0.3, noNaN: true }),
          duplicate: fc.double({ min: 0, max: 0.2, noNaN: true }),
          delay: fc.constant(1),
          jitter: fc.double({ min: 0, max: 5, noNaN: true }),
        }),
        fc.array(arbMessage, { maxLength: 60 }),
        (linkOptions, toB) => {
          const link = new Link(linkOptions);
          const [a, b] = link.pair(false);
          // Tag each message with its index so we can check identity.
          const tagged = toB.map((m, i) => [new Uint8Array([i]), ...m]);
          run(link, a, b, tagged, []);
          while (link.step([a, b]));
          const sent = new Map(tagged.map((m, i) => [i, hexFrames(m)]));
          const seen = new Set<number>();
          for (const m of b.rx.messages) {
            const i = m[0]?.[0] as number;
            expect(seen.has(i)).toBe(false);
            seen.add(i);
            expect(hexFrames(m)).toEqual(sent.get(i));
          }
          if (linkOptions.loss === 0) expect(seen.size).toBe(tagged.length);
          // Whatever did not complete was dropped and counted, not kept.
          expect(b.rx.reassembler.stats.inFlight).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("moves 20,000 small messages through 10% loss with few spurious retransmissions", () => {
    // No jitter: a LAN does not reorder a burst (heavy reordering is covered
    // for correctness above, where fast retransmits are spurious by design).
    const link = new Link({ seed: 42, loss: 0.1, duplicate: 0, delay: 0.5, jitter: 0 });
    const [a, b] = link.pair(true, { window: 256 });
    const msgs = Array.from({ length: 20_000 }, (_, i) => [new Uint8Array(64).fill(i & 0xff)]);
    run(link, a, b, msgs, []);
    expect(b.rx.messages.length).toBe(20_000);
    const st = a.channel.stats;
    console.log("20k msgs, 10% loss:", { ...st, linkSent: link.sent, linkDropped: link.dropped, virtualMs: link.now });
    // Batching holds: about 17 messages per datagram (a few partial ones when the window fills).
    expect(st.sentReliable).toBeLessThanOrEqual(Math.ceil((20_000 / 17) * 1.05));
    // Each datagram is lost with p = 0.1 and so is each retransmission.
    expect(st.retransmits).toBeLessThan(st.sentReliable * 0.2);
  });
});

describe("ReliableChannel re-entrancy", () => {
  it("still owes an ack for datagrams delivered after a reply sent from inside deliver", () => {
    const { ch, out } = channel();
    const dgs = datagrams(3, true);
    ch.receive(headerOf(dgs[1] as Uint8Array), dgs[1] as Uint8Array, 0, () => {});
    ch.receive(headerOf(dgs[2] as Uint8Array), dgs[2] as Uint8Array, 0, () => {});
    ch.poll(0);
    out.length = 0;
    let replied = false;
    ch.receive(headerOf(dgs[0] as Uint8Array), dgs[0] as Uint8Array, 1, () => {
      // The application answers the first message at once.
      if (!replied) ch.send(emptyRoom(), false, 1);
      replied = true;
    });
    expect(headerOf(out[0] as Uint8Array)).toMatchObject({ hasAck: true, ackNext: 1 });
    ch.poll(1);
    expect(headerOf(out[1] as Uint8Array)).toMatchObject({ hasAck: true, ackNext: 3 });
  });
});
