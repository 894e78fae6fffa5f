/**
 * ZMTP 3.x frame encoder (RFC 37 §"Framing"). Pure functions to bytes.
 *
 * Small messages dominate real traffic and each transport write costs far
 * more than a memcpy of a few hundred bytes, so {@link encodeMessage} builds
 * one buffer per message. For big bodies {@link encodeMessageChunks} keeps
 * them by reference (headers and small bodies are coalesced into one buffer)
 * for a gather write (`writev`, `socket.cork()`).
 */
import { FLAG_COMMAND, FLAG_LONG, FLAG_MORE, MAX_SHORT_FRAME_SIZE } from "./frame.js";

/** Bodies at least this large are not copied by {@link encodeMessageChunks}. */
export const DEFAULT_COPY_THRESHOLD = 32 * 1024;

const TWO_32 = 4294967296;

/** Header bytes for a body of `size` bytes: 2 (short) or 9 (long). */
export function frameHeaderSize(size: number): number {
  return size > MAX_SHORT_FRAME_SIZE ? 9 : 2;
}

/** Bytes {@link encodeMessage} produces for these frames. */
export function encodedMessageSize(frames: readonly Uint8Array[]): number {
  let total = 0;
  for (let i = 0; i < frames.length; i++) {
    const n = frames[i]!.length;
    total += n + (n > MAX_SHORT_FRAME_SIZE ? 9 : 2);
  }
  return total;
}

/**
 * Writes a frame header at `offset`; `flags` carries MORE/COMMAND, LONG is
 * set here from the size. Returns the offset after the header.
 */
export function writeFrameHeader(target: Uint8Array, offset: number, flags: number, size: number): number {
  if (size <= MAX_SHORT_FRAME_SIZE) {
    target[offset] = flags;
    target[offset + 1] = size;
    return offset + 2;
  }
  target[offset] = flags | FLAG_LONG;
  const hi = Math.floor(size / TWO_32);
  const lo = size >>> 0;
  target[offset + 1] = hi >>> 24;
  target[offset + 2] = (hi >>> 16) & 0xff;
  target[offset + 3] = (hi >>> 8) & 0xff;
  target[offset + 4] = hi & 0xff;
  target[offset + 5] = lo >>> 24;
  target[offset + 6] = (lo >>> 16) & 0xff;
  target[offset + 7] = (lo >>> 8) & 0xff;
  target[offset + 8] = lo & 0xff;
  return offset + 9;
}

function copyBody(target: Uint8Array, offset: number, body: Uint8Array): number {
  const n = body.length;
  // A native copy has a fixed call cost; tiny bodies are cheaper byte by byte.
  if (n < 32) {
    for (let i = 0; i < n; i++) target[offset + i] = body[i]!;
  } else {
    target.set(body, offset);
  }
  return offset + n;
}

/**
 * Encodes a message (MORE on every frame but the last) into `target` at
 * `offset`; `target` must have {@link encodedMessageSize} bytes free.
 * Returns the offset after the message.
 */
export function encodeMessageInto(frames: readonly Uint8Array[], target: Uint8Array, offset: number): number {
  const last = frames.length - 1;
  for (let i = 0; i <= last; i++) {
    const body = frames[i]!;
    offset = writeFrameHeader(target, offset, i < last ? FLAG_MORE : 0, body.length);
    offset = copyBody(target, offset, body);
  }
  return offset;
}

/** Encodes a message into one buffer. An empty array is not a message: pass at least one frame. */
export function encodeMessage(frames: readonly Uint8Array[]): Buffer {
  const out = Buffer.allocUnsafe(encodedMessageSize(frames));
  encodeMessageInto(frames, out, 0);
  return out;
}

/** Encodes one frame with the given MORE/COMMAND flags. */
export function encodeFrame(flags: number, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(frameHeaderSize(body.length) + body.length);
  copyBody(out, writeFrameHeader(out, 0, flags, body.length), body);
  return out;
}

/** Encodes a command frame around a command body (`name-size name data`). */
export function encodeCommandFrame(body: Uint8Array): Buffer {
  return encodeFrame(FLAG_COMMAND, body);
}

/**
 * A gather list under construction: headers and small bodies are written
 * into `scratch` and coalesce into runs of it; bodies of at least
 * `copyThreshold` bytes go by reference between the runs.
 */
class GatherList {
  readonly #chunks: Buffer[] = [];
  readonly #scratch: Buffer;
  readonly #copyThreshold: number;
  #runStart = 0;
  #at = 0;

  constructor(scratchBytes: number, copyThreshold: number) {
    this.#scratch = Buffer.allocUnsafe(scratchBytes);
    this.#copyThreshold = copyThreshold;
  }

  header(flags: number, size: number): void {
    this.#at = writeFrameHeader(this.#scratch, this.#at, flags, size);
  }

  body(body: Uint8Array): void {
    if (body.length < this.#copyThreshold) {
      this.#at = copyBody(this.#scratch, this.#at, body);
      return;
    }
    if (this.#at > this.#runStart) this.#chunks.push(this.#scratch.subarray(this.#runStart, this.#at));
    this.#chunks.push(Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    this.#runStart = this.#at;
  }

  done(): Buffer[] {
    if (this.#at > this.#runStart) this.#chunks.push(this.#scratch.subarray(this.#runStart, this.#at));
    return this.#chunks;
  }
}

/**
 * Encodes a message for a gather write: bodies of at least `copyThreshold`
 * bytes are returned by reference, everything else (all headers, small
 * bodies) is coalesced into runs of one shared buffer. Concatenating the
 * chunks gives exactly {@link encodeMessage}'s output.
 */
export function encodeMessageChunks(frames: readonly Uint8Array[], copyThreshold = DEFAULT_COPY_THRESHOLD): Buffer[] {
  let copied = 0;
  for (let i = 0; i < frames.length; i++) {
    const n = frames[i]!.length;
    copied += (n > MAX_SHORT_FRAME_SIZE ? 9 : 2) + (n >= copyThreshold ? 0 : n);
  }
  const list = new GatherList(copied, copyThreshold);
  const last = frames.length - 1;
  for (let i = 0; i <= last; i++) {
    const body = frames[i]!;
    list.header(i < last ? FLAG_MORE : 0, body.length);
    list.body(body);
  }
  return list.done();
}

/**
 * Encodes ONE frame whose body is the concatenation of `parts`, for a
 * gather write: parts of at least `copyThreshold` bytes by reference, the
 * frame header and the small parts coalesced into runs of one shared
 * buffer. Concatenating the chunks gives `encodeMessage([concat(parts)])`.
 */
export function encodeFrameChunks(parts: readonly Uint8Array[], copyThreshold = DEFAULT_COPY_THRESHOLD): Buffer[] {
  let size = 0;
  let copied = 0;
  for (let i = 0; i < parts.length; i++) {
    const n = parts[i]!.length;
    size += n;
    if (n < copyThreshold) copied += n;
  }
  const list = new GatherList(frameHeaderSize(size) + copied, copyThreshold);
  list.header(0, size);
  for (let i = 0; i < parts.length; i++) list.body(parts[i]!);
  return list.done();
}
