import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Batcher, Reassembler, ReassemblyBudget, UDP_ERR, sealDatagram } from "../../src/udp/protocol.js";
import { Receiver } from "./pipeline.js";

const chunk = (n: number, v = 0): Uint8Array => new Uint8Array(n).fill(v);

/** Fragments of a `frames` body of `total` octets cut in chunks of `size`. */
function fragmentsOf(body: Uint8Array, size: number): { index: number; count: number; chunk: Uint8Array }[] {
  const count = Math.ceil(body.length / size);
  return Array.from({ length: count }, (_, index) => ({ index, count, chunk: body.subarray(index * size, Math.min(body.length, (index + 1) * size)) }));
}

describe("Reassembler", () => {
  it("drops fragments of a message that never completes after the timeout, counts it, and frees its memory", () => {
    const budget = new ReassemblyBudget(1 << 20);
    const r = new Reassembler({ timeout: 500, budget });
    expect(r.push(1, 0, 3, 30, chunk(10), 0)).toBeUndefined();
    expect(r.push(1, 2, 3, 30, chunk(10), 100)).toBeUndefined();
    expect(r.stats).toMatchObject({ inFlight: 1, bytesInFlight: 30 });
    expect(budget.used).toBe(30);
    // The deadline follows progress: 100 + 500.
    expect(r.nextDeadline()).toBe(600);
    expect(r.expire(599)).toBe(0);
    expect(r.expire(600)).toBe(1);
    expect(r.stats.dropped[UDP_ERR.FRAGMENT_TIMEOUT]).toBe(1);
    expect(r.stats).toMatchObject({ inFlight: 0, bytesInFlight: 0 });
    expect(budget.used).toBe(0);
    // The missing fragment arriving late does not resurrect half a message.
    expect(r.push(1, 1, 3, 30, chunk(10), 700)).toBeUndefined();
    expect(r.stats.inFlight).toBe(0);
    expect(r.stats.stale).toBe(1);
  });

  it("drops never-completing fragments that arrive as crafted datagrams through the decoder", () => {
    const datagrams: Uint8Array[] = [];
    const b = new Batcher((room) => datagrams.push(sealDatagram(room, false, 1, datagrams.length, false)), { maxDatagram: 512 });
    b.add([chunk(5000, 9)]);
    b.flush();
    const rx = new Receiver({ timeout: 1000 });
    // Lose one fragment in the middle.
    datagrams.forEach((dg, i) => i !== 4 && rx.take(dg));
    expect(rx.messages).toEqual([]);
    rx.now = 1000;
    expect(rx.reassembler.expire(rx.now)).toBe(1);
    expect(rx.reassembler.stats.dropped[UDP_ERR.FRAGMENT_TIMEOUT]).toBe(1);
    expect(rx.messages).toEqual([]);
  });

  it("keeps memory bounded under a flood of fragment starts from one peer", () => {
    const budget = new ReassemblyBudget(64 << 20);
    const r = new Reassembler({ maxMessageSize: 16 << 20, maxInFlight: 8, maxPeerBytes: 32 << 20, budget });
    let maxBytes = 0;
    for (let id = 0; id < 10_000; id++) {
      r.push(id, 0, 16 << 10, 16 << 20, chunk(1024), id);
      maxBytes = Math.max(maxBytes, r.stats.bytesInFlight);
      expect(r.stats.inFlight).toBeLessThanOrEqual(8);
    }
    expect(maxBytes).toBeLessThanOrEqual(32 << 20);
    expect(budget.used).toBeLessThanOrEqual(32 << 20);
    expect(r.stats.dropped[UDP_ERR.FRAGMENT_EVICTED]).toBe(10_000 - 2);
  });

  it("never evicts another peer's partial message: a newcomer over the shared budget is the one dropped", () => {
    const budget = new ReassemblyBudget(1000);
    const a = new Reassembler({ maxPeerBytes: 600, budget });
    const b = new Reassembler({ maxPeerBytes: 600, budget });
    expect(b.push(7, 0, 2, 400, chunk(200), 0)).toBeUndefined();
    for (let id = 0; id < 100; id++) a.push(id, 0, 2, 300, chunk(150), 0);
    expect(a.stats.bytesInFlight).toBeLessThanOrEqual(600);
    expect(a.stats.dropped[UDP_ERR.FRAGMENT_OVER_BUDGET] + a.stats.dropped[UDP_ERR.FRAGMENT_EVICTED]).toBe(98);
    expect(budget.used).toBeLessThanOrEqual(1000);
    const body = b.push(7, 1, 2, 400, chunk(200, 1), 1);
    expect(body?.length).toBe(400);
  });

  it("counts an inconsistent fragment and drops its whole message", () => {
    const r = new Reassembler();
    r.push(3, 0, 3, 30, chunk(10), 0);
    expect(r.push(3, 1, 4, 40, chunk(10), 0)).toBeUndefined();
    expect(r.stats.dropped[UDP_ERR.FRAGMENT_INCONSISTENT]).toBe(1);
    expect(r.push(3, 2, 3, 30, chunk(10), 0)).toBeUndefined();
    expect(r.stats.inFlight).toBe(0);
  });

  it("counts messages over the maximum and fragments inconsistent in themselves", () => {
    const r = new Reassembler({ maxMessageSize: 100 });
    expect(r.push(1, 0, 2, 101, chunk(60), 0)).toBeUndefined();
    expect(r.push(2, 0, 2, 50, chunk(10), 0)).toBeUndefined();
    expect(r.stats.dropped[UDP_ERR.TOO_LARGE]).toBe(1);
    expect(r.stats.dropped[UDP_ERR.BAD_FRAGMENT]).toBe(1);
    expect(r.stats.inFlight).toBe(0);
  });

  it("ignores a duplicate fragment instead of counting it towards completion", () => {
    const r = new Reassembler();
    r.push(1, 0, 2, 15, chunk(10, 1), 0);
    expect(r.push(1, 0, 2, 15, chunk(10, 1), 0)).toBeUndefined();
    expect(r.stats.duplicates).toBe(1);
    const body = r.push(1, 1, 2, 15, chunk(5, 2), 0);
    expect(Array.from(body ?? [])).toEqual([...Array(10).fill(1), ...Array(5).fill(2)]);
    expect(r.stats.completed).toBe(1);
  });

  it("delivers exactly the messages whose every fragment arrived, never a partial one (random loss, order, duplication)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 2, max: 3000 }), fc.integer({ min: 1, max: 700 })), { minLength: 1, maxLength: 8 }),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 9 })), { maxLength: 200 }),
        (messages, ops) => {
          const r = new Reassembler({ maxInFlight: 16 });
          const all = messages.flatMap(([total, size], msgId) => {
            const body = new Uint8Array(total).map((_, i) => (i * 31 + msgId) & 0xff);
            const s = Math.min(size, total - 1);
            return fragmentsOf(body, s).map((f) => ({ msgId, total, ...f }));
          });
          // ops pick fragments in any order, some twice, some never (0 = lost).
          const delivered = new Map<number, Uint8Array>();
          const got = new Map<number, Set<number>>();
          for (const [pick, keep] of ops) {
            const f = all[pick % all.length];
            if (f === undefined || keep === 0) continue;
            const body = r.push(f.msgId, f.index, f.count, f.total, f.chunk, 0);
            const seen = got.get(f.msgId) ?? new Set<number>();
            seen.add(f.index);
            got.set(f.msgId, seen);
            if (body !== undefined) {
              expect(delivered.has(f.msgId)).toBe(false);
              delivered.set(f.msgId, body);
            }
          }
          messages.forEach(([total], msgId) => {
            const count = all.filter((f) => f.msgId === msgId).length;
            const complete = (got.get(msgId)?.size ?? 0) === count;
            expect(delivered.has(msgId)).toBe(complete);
            if (complete) expect(delivered.get(msgId)).toEqual(new Uint8Array(total).map((_, i) => (i * 31 + msgId) & 0xff));
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
