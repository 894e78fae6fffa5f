// The byte stream the cluster tests and bench send: chunk i is a fixed
// 64 KiB block of seeded pseudo-random bytes whose first 8 bytes are i
// (big-endian), so a reader can check any prefix of the stream without the
// writer's data: a duplicate, a gap or a reordering changes some chunk index.
import { createHash } from "node:crypto";

export const BLOCK = 64 * 1024;

export function baseBlock(seed: number): Buffer {
  const b = Buffer.allocUnsafe(BLOCK);
  let x = seed >>> 0 || 1;
  for (let o = 0; o < BLOCK; o += 4) {
    // xorshift32
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b.writeUInt32LE(x, o);
  }
  return b;
}

/** Chunk `i` of the stream (a fresh buffer: it is sent zero-copy). */
export function streamChunk(base: Buffer, i: number): Buffer {
  const c = Buffer.from(base);
  c.writeBigUInt64BE(BigInt(i), 0);
  return c;
}

/** Checks received bytes against the stream, from byte `offset` of the stream on. */
export class PrefixChecker {
  offset = 0;
  ok = true;
  firstBad = -1;
  readonly hash = createHash("sha256");
  readonly #base: Buffer;
  constructor(base: Buffer) {
    this.#base = base;
  }
  update(data: Buffer): void {
    this.hash.update(data);
    if (!this.ok) {
      this.offset += data.length;
      return;
    }
    let at = 0;
    while (at < data.length) {
      const i = Math.floor(this.offset / BLOCK);
      const within = this.offset % BLOCK;
      const n = Math.min(BLOCK - within, data.length - at);
      const expected = streamChunk(this.#base, i).subarray(within, within + n);
      if (!expected.equals(data.subarray(at, at + n))) {
        this.ok = false;
        this.firstBad = this.offset;
        this.offset += data.length - at;
        return;
      }
      at += n;
      this.offset += n;
    }
  }
}
