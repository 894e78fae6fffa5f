/**
 * The `frames` encoding of a multipart message (docs/protocols/udp.md §2.1):
 * per frame a flags octet (ZMTP RFC 37 §2.3: bit 0 MORE, bit 1 LONG), a size
 * of 1 octet (short) or 4 octets (long), then the data. It is the body of a
 * MESSAGE command and the reassembled body of a fragmented message.
 */
import { readU32, writeU32 } from "./bytes.js";
import { DecodeError, UDP_ERR, VtxError } from "./codec-errors.js";
import { FRAME_LONG, FRAME_MORE, MAX_MESSAGE, MAX_SHORT_FRAME } from "./wire-constants.js";

/** Octets of one frame's flags + size. */
export function frameHeaderSize(len: number): number {
  return len <= MAX_SHORT_FRAME ? 2 : 5;
}

/** Octets of the whole `frames` encoding of a message. */
export function messageBodySize(frames: readonly Uint8Array[]): number {
  let size = 0;
  for (let i = 0; i < frames.length; i++) {
    const len = (frames[i] as Uint8Array).length;
    size += (len <= MAX_SHORT_FRAME ? 2 : 5) + len;
  }
  if (frames.length === 0) throw new VtxError(UDP_ERR.ENCODE_RANGE, "a message has at least one frame");
  if (size > MAX_MESSAGE) throw new VtxError(UDP_ERR.ENCODE_RANGE, `message of ${size} octets exceeds 2^32-1`);
  return size;
}

/**
 * Write a frame header into `buf` at `off`; returns the new offset.
 * `more`: another frame follows.
 */
export function writeFrameHeader(buf: Uint8Array, off: number, len: number, more: boolean): number {
  if (len <= MAX_SHORT_FRAME) {
    buf[off] = more ? FRAME_MORE : 0;
    buf[off + 1] = len;
    return off + 2;
  }
  buf[off] = (more ? FRAME_MORE : 0) | FRAME_LONG;
  writeU32(buf, off + 1, len);
  return off + 5;
}

/** Write the whole `frames` encoding at `off` (room checked by the caller); returns the end. */
export function writeFrames(buf: Uint8Array, off: number, frames: readonly Uint8Array[]): number {
  const last = frames.length - 1;
  for (let i = 0; i <= last; i++) {
    const f = frames[i] as Uint8Array;
    off = writeFrameHeader(buf, off, f.length, i < last);
    buf.set(f, off);
    off += f.length;
  }
  return off;
}

/**
 * Parse the `frames` encoding in `buf[start, end)`. With `out`, each frame is
 * pushed as a view into `buf` (no copy); with null it only validates.
 * Throws DecodeError UDP_BAD_FLAGS or UDP_BAD_LENGTH; returns the frame count.
 */
export function scanFrames(buf: Uint8Array, start: number, end: number, out: Uint8Array[] | null): number {
  let off = start;
  let count = 0;
  for (;;) {
    if (off >= end) {
      throw new DecodeError(UDP_ERR.BAD_LENGTH, count === 0 ? "message has no frame" : "frames end after a MORE frame", off, "frame-flags");
    }
    const flags = buf[off] as number;
    if ((flags & ~(FRAME_MORE | FRAME_LONG)) !== 0) {
      throw new DecodeError(UDP_ERR.BAD_FLAGS, `reserved frame flag bits set (0x${flags.toString(16)})`, off, "frame-flags");
    }
    let len: number;
    if ((flags & FRAME_LONG) !== 0) {
      if (end - off < 5) throw new DecodeError(UDP_ERR.BAD_LENGTH, "frame size runs past its body", off + 1, "frame-size");
      len = readU32(buf, off + 1);
      off += 5;
    } else {
      if (end - off < 2) throw new DecodeError(UDP_ERR.BAD_LENGTH, "frame size runs past its body", off + 1, "frame-size");
      len = buf[off + 1] as number;
      off += 2;
    }
    if (len > end - off) {
      throw new DecodeError(UDP_ERR.BAD_LENGTH, `frame of ${len} octets runs past its body`, off, "frame-data");
    }
    if (out !== null) out.push(buf.subarray(off, off + len));
    off += len;
    count++;
    if ((flags & FRAME_MORE) === 0) {
      if (off !== end) throw new DecodeError(UDP_ERR.BAD_LENGTH, "octets after the last frame", off, "frame-flags");
      return count;
    }
  }
}

/** Decode a whole `frames` body (e.g. a reassembled message) into frame views. */
export function decodeFrames(body: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  scanFrames(body, 0, body.length, out);
  return out;
}
