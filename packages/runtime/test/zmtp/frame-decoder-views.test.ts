/**
 * The decoder's zero-copy rules: a frame spanning chunks that are adjacent
 * parts of one ArrayBuffer (what the slab reader produces) is handed out as
 * a view; chunks that are not adjacent are assembled in a copy, also when
 * the view had already grown over adjacent chunks; `copyBelow` copies
 * mid-sized frames so they do not pin a large read buffer.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SlabPool } from "../../src/stream/slab-pool.js";
import { encodeMessage, FrameDecoder } from "../../src/zmtp/index.js";
import { recordingDecoder } from "./helpers/frames.js";

const body = (n: number, seed: number): Buffer => {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
};

/** Copies `bytes` into one fresh slab and returns adjacent views of it cut at `cuts`. */
function adjacentChunks(bytes: Buffer, cuts: number[]): Buffer[] {
  const slab = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(slab);
  const points = [...new Set(cuts.map((c) => Math.min(bytes.length, c)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of [...points, bytes.length]) {
    if (p > at) out.push(slab.subarray(at, p));
    at = p;
  }
  return out;
}

describe("frame decoder views", () => {
  it("hands out a frame spanning adjacent chunks of one buffer as a view, without copying", () => {
    const frame = body(70_000, 1);
    const wire = encodeMessage([frame]);
    const chunks = adjacentChunks(wire, [5, 30_000, 65_536]);
    const { decoder, out, errors } = recordingDecoder();
    for (const c of chunks) decoder.push(c);
    expect(errors).toEqual([]);
    expect(out).toHaveLength(1);
    const got = out[0]!.kind === "message" ? out[0]!.frames[0]! : Buffer.alloc(0);
    expect(got.equals(frame)).toBe(true);
    expect(got.buffer).toBe(chunks[0]!.buffer); // a view of the slab
  });

  it("switches to a copy when the next chunk is not adjacent, keeping the bytes the view had grown over", () => {
    const frame = body(50_000, 2);
    const wire = encodeMessage([frame]);
    // First two chunks adjacent in slab A, the rest in a separate buffer.
    const a = adjacentChunks(wire.subarray(0, 20_000), [9, 10_000]);
    const rest = Buffer.from(wire.subarray(20_000));
    const { decoder, out, errors } = recordingDecoder();
    for (const c of [...a, rest]) decoder.push(c);
    expect(errors).toEqual([]);
    const got = out[0]!.kind === "message" ? out[0]!.frames[0]! : Buffer.alloc(0);
    expect(got.equals(frame)).toBe(true);
    expect(got.buffer).not.toBe(a[0]!.buffer);
  });

  it("copies frames of 129 bytes up to copyBelow, and keeps views of smaller and larger ones", () => {
    const frames = [body(100, 3), body(1000, 4), body(20_000, 5)];
    const wire = Buffer.concat(frames.map((f) => encodeMessage([f])));
    const [chunk] = adjacentChunks(wire, []);
    const { decoder, out } = recordingDecoder({ copyBelow: 16 * 1024 });
    decoder.push(chunk!);
    const got = out.map((o) => (o.kind === "message" ? o.frames[0]! : Buffer.alloc(0)));
    expect(got.map((g, i) => g.equals(frames[i]!))).toEqual([true, true, true]);
    expect(got.map((g) => g.buffer === chunk!.buffer)).toEqual([true, false, true]);
  });

  it("decodes any message sequence from adjacent chunks cut anywhere, views or not", () => {
    const frameArb = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 40_000 }));
    fc.assert(
      fc.property(
        fc.array(fc.array(frameArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 3 }),
        (sizes, cuts, breaks) => {
          const messages = sizes.map((m, i) => m.map((n, j) => body(n, i * 7 + j)));
          const wire = Buffer.concat(messages.map((m) => encodeMessage(m)));
          // Adjacent pieces, except at `breaks` where a new buffer starts (a new slab).
          const breakAt = new Set(breaks.map((b) => b % (wire.length + 1)));
          const chunks: Buffer[] = [];
          let start = 0;
          for (const end of [...[...breakAt].sort((a, b) => a - b), wire.length]) {
            if (end <= start) continue;
            const part = wire.subarray(start, end);
            chunks.push(...adjacentChunks(part, cuts.map((c) => c % (part.length + 1))));
            start = end;
          }
          const { decoder, out, errors } = recordingDecoder({ copyBelow: 4096 });
          for (const c of chunks) decoder.push(c);
          expect(errors).toEqual([]);
          expect(out.map((o) => (o.kind === "message" ? o.frames.map((f) => f.toString("hex")) : []))).toEqual(
            messages.map((m) => m.map((f) => f.toString("hex"))),
          );
          expect(decoder.idle).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("carrySpan moves what arrived of a cut frame to the start of a new slab, and the frame is a view of it", () => {
    const frame = body(70_000, 6);
    const wire = encodeMessage([frame]);
    const [first] = adjacentChunks(wire.subarray(0, 30_000), []);
    const { decoder, out, errors } = recordingDecoder({ copyBelow: 4096 });
    decoder.push(first!);
    expect(decoder.carrySpan(Buffer.allocUnsafeSlow(60_000))).toBe(0); // the whole frame would not fit
    const slab = Buffer.allocUnsafeSlow(100_000);
    const moved = decoder.carrySpan(slab);
    expect(moved).toBe(30_000 - 9);
    // The rest is read into the new slab right after what was moved.
    wire.copy(slab, moved, 30_000);
    decoder.push(slab.subarray(moved, moved + 20_000));
    decoder.push(slab.subarray(moved + 20_000, moved + wire.length - 30_000));
    expect(errors).toEqual([]);
    const got = out[0]!.kind === "message" ? out[0]!.frames[0]! : Buffer.alloc(0);
    expect(got.equals(frame)).toBe(true);
    expect(got.buffer).toBe(slab.buffer);
    expect(decoder.carrySpan(Buffer.allocUnsafeSlow(100_000))).toBe(0); // nothing pending now
  });

  it("carrySpan leaves alone a frame under copyBelow and a paused decoder's", () => {
    const small = encodeMessage([body(3000, 7)]);
    const { decoder } = recordingDecoder({ copyBelow: 4096 });
    decoder.push(adjacentChunks(small.subarray(0, 1000), [])[0]!);
    expect(decoder.carrySpan(Buffer.allocUnsafeSlow(10_000))).toBe(0);
    const big = encodeMessage([body(50_000, 8)]);
    const paused = recordingDecoder({ copyBelow: 4096 });
    paused.decoder.push(adjacentChunks(big.subarray(0, 1000), [])[0]!);
    paused.decoder.pause();
    expect(paused.decoder.carrySpan(Buffer.allocUnsafeSlow(100_000))).toBe(0);
    paused.decoder.resume();
    expect(paused.decoder.carrySpan(Buffer.allocUnsafeSlow(100_000))).toBe(1000 - 9);
  });

  it("read into slabs as the slab reader does (carrying at each new slab): same messages, and every frame from copyBelow up to a slab is a view", () => {
    const frameArb = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 4096, max: 70_000 }));
    fc.assert(
      fc.property(
        fc.array(fc.array(frameArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 40_000 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 16_384 }),
        (sizes, reads, minRead) => {
          const slabBytes = 80_000;
          const messages = sizes.map((m, i) => m.map((n, j) => body(n, i * 5 + j)));
          const wire = Buffer.concat(messages.map((m) => encodeMessage(m)));
          const { decoder, out, errors } = recordingDecoder({ copyBelow: 4096 });
          const slabs = new Set<ArrayBufferLike>();
          let slab = Buffer.allocUnsafeSlow(slabBytes);
          slabs.add(slab.buffer);
          let used = 0;
          let at = 0;
          for (let r = 0; at < wire.length; r++) {
            if (slabBytes - used < minRead) {
              slab = Buffer.allocUnsafeSlow(slabBytes);
              slabs.add(slab.buffer);
              used = decoder.carrySpan(slab);
            }
            const n = Math.min(reads[r % reads.length]!, slabBytes - used, wire.length - at);
            wire.copy(slab, used, at, at + n);
            decoder.push(slab.subarray(used, used + n));
            used += n;
            at += n;
          }
          expect(errors).toEqual([]);
          const got = out.flatMap((o) => (o.kind === "message" ? o.frames : []));
          expect(got.map((f) => f.toString("hex"))).toEqual(messages.flat().map((f) => f.toString("hex")));
          for (const f of got) if (f.length >= 4096 && f.length <= slabBytes) expect(slabs.has(f.buffer)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("read into recycled slabs (one goes back once refersTo says the decoder holds none of it and every frame counted in it was released): same messages, kept views intact", () => {
    const frameArb = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 4096, max: 70_000 }));
    let reused = 0;
    fc.assert(
      fc.property(
        fc.array(fc.array(frameArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 40_000 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 16_384 }),
        fc.boolean(),
        (sizes, reads, minRead, pauseEach) => {
          const pool = new SlabPool(80_000, 4);
          // A slab is scribbled over whenever it is taken: a view still in
          // use when its slab came back would show it.
          const take = (): Buffer => pool.take().fill(0xee);
          const messages = sizes.map((m, i) => m.map((n, j) => body(n, i * 5 + j)));
          const wire = Buffer.concat(messages.map((m) => encodeMessage(m)));
          const copies: string[] = [];
          const kept: Buffer[][] = [];
          const errors: unknown[] = [];
          const decoder: FrameDecoder = new FrameDecoder(
            {
              message: (frames) => {
                // Counted at delivery, as the connection counts them.
                for (const f of frames) pool.retain(f);
                copies.push(...frames.map((f) => f.toString("hex")));
                // Every other message is kept as views (never released); the
                // others are released at once (written out, say).
                if (copies.length % 2 === 0) kept.push(frames);
                else for (const f of frames) pool.release(f);
                if (pauseEach) decoder.pause();
              },
              command: () => undefined,
              error: (err) => errors.push(err),
            },
            { copyBelow: 4096 },
          );
          let slab = take();
          let used = 0;
          let at = 0;
          for (let r = 0; at < wire.length || decoder.paused; r++) {
            if (decoder.paused) {
              decoder.resume();
              continue;
            }
            if (slab.length - used < minRead) {
              const old = slab;
              slab = take();
              used = decoder.carrySpan(slab);
              if (!decoder.refersTo(old.buffer)) pool.release(old);
            }
            const n = Math.min(reads[r % reads.length]!, slab.length - used, wire.length - at);
            wire.copy(slab, used, at, at + n);
            decoder.push(slab.subarray(used, used + n));
            used += n;
            at += n;
          }
          expect(errors).toEqual([]);
          expect(copies).toEqual(messages.flat().map((f) => f.toString("hex")));
          const want = new Set(messages.flat().map((f) => f.toString("hex")));
          for (const frames of kept) for (const f of frames) expect(want.has(f.toString("hex"))).toBe(true);
          reused += pool.stats().reused;
        },
      ),
      { numRuns: 200 },
    );
    // The runs did recycle slabs (a kept view pins its slab, so not every run
    // can; 81 to 1,955 reuses in all were seen over 200 runs).
    expect(reused).toBeGreaterThan(0);
  });
});
