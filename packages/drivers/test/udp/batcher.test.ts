import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Batcher, HEADER_ROOM, UDP_ERR, parseDatagram, sealDatagram } from "../../src/udp/protocol.js";
import { Receiver, hexFrames } from "./pipeline.js";

/** Seal every room as an unreliable datagram with consecutive seqs. */
function sealer(out: Uint8Array[]): (room: Uint8Array) => void {
  let seq = 0;
  return (room) => out.push(sealDatagram(room, false, 0x1234, seq++, false).slice());
}

/** A multipart message: mostly small frames, sometimes one bigger than a datagram. */
const arbFrame = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 80 }) },
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 200, maxLength: 600 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1000, maxLength: 6000 }) },
);
const arbMessage = fc.array(arbFrame, { minLength: 1, maxLength: 5 });

describe("Batcher", () => {
  it("delivers any sequence of multipart messages intact and in order, whatever the datagram size and flush points", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(arbMessage, fc.boolean()), { maxLength: 30 }),
        fc.integer({ min: 512, max: 3000 }),
        (batch, maxDatagram) => {
          const datagrams: Uint8Array[] = [];
          const b = new Batcher(sealer(datagrams), { maxDatagram, slabSize: 4096 });
          for (const [m, flush] of batch) {
            b.add(m);
            if (flush) b.flush();
          }
          b.flush();
          expect(b.buffered).toBe(0);
          const rx = new Receiver();
          for (const dg of datagrams) {
            // A datagram never exceeds the size with or without an ack block.
            expect(dg.length + 8).toBeLessThanOrEqual(maxDatagram);
            rx.take(dg);
          }
          expect(rx.messages.map(hexFrames)).toEqual(batch.map(([m]) => hexFrames(m)));
          expect(rx.reassembler.stats.inFlight).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("reassembles fragments that arrive shuffled and duplicated", () => {
    // Duplicated datagrams are the channel's job; here every datagram is a
    // fragment (the message never fits one datagram), so the reassembler's.
    fc.assert(
      fc.property(
        fc.tuple(fc.uint8Array({ minLength: 1500, maxLength: 9000 }), fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 2 })).map(([a, rest]) => [a, ...rest]),
        fc.integer({ min: 512, max: 1500 }),
        fc.infiniteStream(fc.nat()),
        (frames, maxDatagram, rand) => {
          const datagrams: Uint8Array[] = [];
          const b = new Batcher(sealer(datagrams), { maxDatagram });
          b.add(frames);
          b.flush();
          const shuffled = [...datagrams, ...datagrams.filter((_, i) => i % 3 === 0)];
          const it = rand[Symbol.iterator]();
          for (let i = shuffled.length - 1; i > 0; i--) {
            const j = (it.next().value as number) % (i + 1);
            [shuffled[i], shuffled[j]] = [shuffled[j] as Uint8Array, shuffled[i] as Uint8Array];
          }
          const rx = new Receiver();
          for (const dg of shuffled) rx.take(dg);
          expect(rx.messages.map(hexFrames)).toEqual([hexFrames(frames)]);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("packs 17 messages of 64 octets into each default 1200-octet datagram", () => {
    const datagrams: Uint8Array[] = [];
    const b = new Batcher(sealer(datagrams));
    const msg = [new Uint8Array(64).fill(7)];
    for (let i = 0; i < 1700; i++) b.add(msg);
    b.flush();
    expect(datagrams.length).toBe(100);
    expect(b.stats).toEqual({ messages: 1700, datagrams: 100, fragments: 0 });
  });

  it("round-trips a 16 MiB message through 1200-octet datagrams", () => {
    const big = new Uint8Array(16 * 1024 * 1024 - 16);
    for (let i = 0; i < big.length; i += 4093) big[i] = i & 0xff;
    const datagrams: Uint8Array[] = [];
    const b = new Batcher(sealer(datagrams));
    b.add([new Uint8Array([1, 2]), big]);
    b.flush();
    expect(datagrams.length).toBe(Math.ceil((big.length + 4 + 5) / b.fragmentChunkSize));
    const rx = new Receiver();
    for (let i = datagrams.length - 1; i >= 0; i--) rx.take(datagrams[i] as Uint8Array);
    expect(rx.messages.length).toBe(1);
    const [m] = rx.messages;
    expect(m?.[0]).toEqual(new Uint8Array([1, 2]));
    expect(Buffer.compare(m?.[1] as Uint8Array, big)).toBe(0);
  });

  it("lets later messages share the last fragment's datagram", () => {
    const datagrams: Uint8Array[] = [];
    const b = new Batcher(sealer(datagrams), { maxDatagram: 600 });
    b.add([new Uint8Array(1000)]);
    b.add([new Uint8Array(10)]);
    b.flush();
    expect(datagrams.length).toBe(2);
  });

  it("emits rooms with the header room reserved and seals in place", () => {
    const rooms: Uint8Array[] = [];
    const b = new Batcher((r) => rooms.push(r));
    b.add([new Uint8Array([0x41])]);
    b.flush();
    expect(rooms[0]?.length).toBe(HEADER_ROOM + 3 + 3);
    const dg = sealDatagram(rooms[0] as Uint8Array, true, 9, 0, false);
    expect(parseDatagram(dg)).toMatchObject({ reliable: true, session: 9, bodyOffset: 12 });
  });

  it("refuses heartbeat and handshake commands in a reliable batcher, but carries subscriptions", () => {
    const rooms: Uint8Array[] = [];
    const b = new Batcher((r) => rooms.push(r), { reliable: true });
    expect(() => b.addControl({ type: "PING", token: 1 })).toThrow(expect.objectContaining({ code: UDP_ERR.BAD_CLASS }));
    b.addControl({ type: "SUBSCRIBE", topic: new Uint8Array([0x61]) });
    b.flush();
    const rx = new Receiver();
    rx.take(sealDatagram(rooms[0] as Uint8Array, true, 1, 0, false));
    expect(rx.controls).toEqual([{ type: "SUBSCRIBE", topic: new Uint8Array([0x61]) }]);
  });

  it("rejects an empty message and a datagram size out of range", () => {
    const b = new Batcher(() => {});
    expect(() => b.add([])).toThrow(expect.objectContaining({ code: UDP_ERR.ENCODE_RANGE }));
    expect(() => new Batcher(() => {}, { maxDatagram: 100 })).toThrow(expect.objectContaining({ code: UDP_ERR.ENCODE_RANGE }));
    expect(() => new Batcher(() => {}, { maxDatagram: 70000 })).toThrow(expect.objectContaining({ code: UDP_ERR.ENCODE_RANGE }));
  });
});
