/**
 * The decoder's zero-copy rules: a frame spanning chunks that are adjacent
 * parts of one ArrayBuffer (what the slab reader produces) is handed out as
 * a view; chunks that are not adjacent are assembled in a copy, also when
 * the view had already grown over adjacent chunks; `copyBelow` copies
 * mid-sized frames so they do not pin a large read buffer.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeMessage } from "../../src/zmtp/index.js";
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
});
