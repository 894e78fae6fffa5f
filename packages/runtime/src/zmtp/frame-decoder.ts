/**
 * Push decoder for ZMTP 3.x frames (RFC 37 §"Framing"): bytes in, whole
 * messages (arrays of frame bodies) and command bodies out.
 *
 * Zero-copy where it can be: a frame that lies wholly inside the pushed chunk
 * is handed out as a `subarray` of that chunk, so the caller must not reuse a
 * chunk after pushing it (node's net.Socket gives a fresh Buffer per 'data'
 * event). A frame that spans chunks is still a view when the chunks are
 * adjacent parts of one ArrayBuffer (the slab reader reads consecutive
 * chunks into one slab); otherwise it is copied into one buffer of its
 * exact size, allocated after its size was checked against the bounds: a
 * header announcing 2^62 bytes is refused before anything is allocated.
 * With `copyBelow`, views smaller than that (but over 128 bytes, which
 * zeromq.js copies anyway) are copied, so a small message the application
 * keeps does not keep a large read buffer alive.
 *
 * Frame-level rules enforced here:
 * - reserved flag bits 7-3 must be zero;
 * - a command frame never has MORE set (commands are single frames);
 * - a message (all frames up to the one without MORE) stays within
 *   `maxMessageSize`; a command within `maxCommandSize`.
 * A command may arrive between two frames of a multipart message (libzmq can
 * slip a PING in while a message is being written); it does not disturb the
 * message being assembled.
 */
import { DecodeError } from "../errors.js";
import {
  COMMAND_ENVELOPE_ALLOWANCE,
  DEFAULT_MAX_MESSAGE_SIZE,
  FLAG_COMMAND,
  FLAG_LONG,
  FLAG_MORE,
  FLAG_RESERVED_MASK,
} from "./frame.js";

export interface FrameSink {
  /** One complete message. Frames may alias the pushed chunk. */
  message(frames: Buffer[]): void;
  /** One command frame body (`name-size name data`); `offset` is its stream offset. */
  command(body: Buffer, offset: number): void;
  /** A fatal decode error; the decoder has stopped. */
  error(err: DecodeError): void;
}

export interface FrameDecoderOptions {
  /** Bound on a whole multipart message, default {@link DEFAULT_MAX_MESSAGE_SIZE}. */
  maxMessageSize?: number;
  /** Bound on one command frame, default `maxMessageSize` + envelope allowance. */
  maxCommandSize?: number;
  /** Stream offset of the first byte pushed (64 after a greeting), for error offsets. */
  offset?: number;
  /** Copy frames of 129 bytes up to this size instead of handing out views of the pushed chunk (default 0: never). */
  copyBelow?: number;
}

/** zeromq.js copies a message part of up to this many bytes when sending it. */
const ZEROMQ_COPIES_UP_TO = 128;

const TWO_32 = 4294967296;

export class FrameDecoder {
  /** Bound on a whole multipart message; may be changed between pushes. */
  maxMessageSize: number;
  /** Bound on one command frame; may be changed between pushes (the engine lowers it during the handshake). */
  maxCommandSize: number;

  readonly #sink: FrameSink;
  /** Stream offset of byte 0 of the chunk being decoded. */
  #base: number;

  // Partial header gathered across chunks.
  readonly #hdr = Buffer.alloc(9);
  #hdrLen = 0;
  #hdrOffset = 0;

  /** See {@link FrameDecoderOptions.copyBelow}; may be changed between pushes. */
  copyBelow: number;

  // Body spanning chunks: a view while the chunks are adjacent (#span), else a copy (#body).
  #span: Buffer | undefined = undefined;
  #spanSize = 0;
  #body: Buffer | undefined = undefined;
  #bodyHave = 0;
  #bodyFlags = 0;
  #bodyOffset = 0;

  // Message being assembled.
  #frames: Buffer[] = [];
  #msgBytes = 0;

  /** True while paused or stopped: the decode loop checks this one field after each frame. */
  #halt = false;
  #stopped = false;
  #busy = false;
  /** What was left of the chunk when paused, then chunks pushed while paused or re-entrantly. */
  readonly #queue: Buffer[] = [];

  constructor(sink: FrameSink, options: FrameDecoderOptions = {}) {
    this.#sink = sink;
    this.maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this.maxCommandSize = options.maxCommandSize ?? this.maxMessageSize + COMMAND_ENVELOPE_ALLOWANCE;
    this.#base = options.offset ?? 0;
    this.copyBelow = options.copyBelow ?? 0;
  }

  /** Stream offset of the next byte to be decoded. */
  get offset(): number {
    return this.#base;
  }

  get paused(): boolean {
    return this.#halt && !this.#stopped;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** True when no partial frame or partial multipart message is buffered. */
  get idle(): boolean {
    return this.#hdrLen === 0 && this.#body === undefined && this.#span === undefined && this.#frames.length === 0 && this.#queue.length === 0;
  }

  push(chunk: Uint8Array): void {
    if (this.#stopped) return;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#halt || this.#busy) {
      this.#queue.push(buf);
      return;
    }
    this.#busy = true;
    try {
      this.#run(buf);
      this.#drain();
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Stops after the frame being delivered (call it from a sink callback):
   * the rest of the chunk and later pushes are kept until {@link resume}.
   * The engine uses this while an asynchronous handshake step runs.
   */
  pause(): void {
    if (!this.#stopped) this.#halt = true;
  }

  /** Continues with the bytes kept since {@link pause}. */
  resume(): void {
    if (this.#stopped || !this.#halt) return;
    this.#halt = false;
    if (this.#busy) return; // resumed from inside a callback: the running loop drains
    this.#busy = true;
    try {
      this.#drain();
    } finally {
      this.#busy = false;
    }
  }

  /** Stops for good; later pushes are ignored and buffers are released. */
  stop(): void {
    this.#stopped = true;
    this.#halt = true;
    this.#queue.length = 0;
    this.#body = undefined;
    this.#span = undefined;
    this.#frames = [];
  }

  /**
   * Moves the body of a frame still being received (held as a view of the
   * pushed chunks' memory) to the start of `into`, so that bytes pushed next
   * from right after it in `into` continue it in adjacent memory and the
   * frame is still handed out as a view. The slab reader calls this when it
   * starts a new slab: a frame cut by the end of a slab then costs a copy of
   * what had arrived of it, instead of a copy of the whole frame into a
   * fresh buffer once it completes. Returns how many bytes were moved; 0
   * when no body is pending as a view, when the whole body would not fit in
   * `into`, when it will be copied anyway (under `copyBelow`), or while
   * chunks wait to be decoded (paused), since those come first.
   */
  carrySpan(into: Buffer): number {
    const span = this.#span;
    if (span === undefined || this.#busy || this.#halt || this.#queue.length > 0) return 0;
    const size = this.#spanSize;
    if (size > into.length || size < this.copyBelow) return 0;
    const have = this.#bodyHave;
    into.set(new Uint8Array(span.buffer, span.byteOffset, have), 0);
    this.#span = into.subarray(0, have);
    return have;
  }

  /**
   * True while the decoder keeps a view of memory in `buffer` (a partial
   * frame's body, frames of an unfinished message, chunks queued while
   * paused): that memory must not be reused yet.
   */
  refersTo(buffer: ArrayBufferLike): boolean {
    if (this.#busy) return true;
    if (this.#span !== undefined && this.#span.buffer === buffer) return true;
    for (const f of this.#frames) if (f.buffer === buffer) return true;
    for (const q of this.#queue) if (q.buffer === buffer) return true;
    return false;
  }

  #drain(): void {
    while (!this.#halt && this.#queue.length > 0) this.#run(this.#queue.shift()!);
  }

  #run(buf: Buffer): void {
    const len = buf.length;
    let pos = 0;
    while (pos < len) {
      const span = this.#span;
      const body = this.#body;
      if (span !== undefined && buf.buffer === span.buffer && buf.byteOffset + pos === span.byteOffset + this.#bodyHave) {
        // A spanning body goes on in adjacent memory: extend the view.
        const size = this.#spanSize;
        const n = Math.min(size - this.#bodyHave, len - pos);
        pos += n;
        this.#bodyHave += n;
        if (this.#bodyHave < size) break;
        this.#span = undefined;
        const view = Buffer.from(span.buffer, span.byteOffset, size);
        this.#emit(this.#bodyFlags, size > ZEROMQ_COPIES_UP_TO && size < this.copyBelow ? Buffer.from(view) : view, this.#bodyOffset);
      } else if (span !== undefined) {
        // Not adjacent: from here on the body is assembled in a copy.
        const copy = Buffer.allocUnsafe(this.#spanSize);
        // The view may have grown past `span` through adjacent chunks.
        copy.set(new Uint8Array(span.buffer, span.byteOffset, this.#bodyHave));
        this.#span = undefined;
        this.#body = copy;
        continue;
      } else if (body !== undefined) {
        // Continue a body that spans chunks.
        const n = Math.min(body.length - this.#bodyHave, len - pos);
        buf.copy(body, this.#bodyHave, pos, pos + n);
        pos += n;
        this.#bodyHave += n;
        if (this.#bodyHave < body.length) break;
        this.#body = undefined;
        this.#emit(this.#bodyFlags, body, this.#bodyOffset);
      } else {
        let flags: number;
        let size: number;
        let headerOffset: number;
        const avail = len - pos;
        if (this.#hdrLen === 0 && avail >= 2 && ((buf[pos]! & FLAG_LONG) === 0 || avail >= 9)) {
          // Fast path: the whole header is in this chunk.
          headerOffset = this.#base + pos;
          flags = buf[pos]!;
          if ((flags & FLAG_LONG) === 0) {
            size = buf[pos + 1]!;
            pos += 2;
          } else {
            size = buf.readUInt32BE(pos + 1) * TWO_32 + buf.readUInt32BE(pos + 5);
            pos += 9;
          }
        } else {
          // Gather the header byte by byte across chunks.
          if (this.#hdrLen === 0) this.#hdrOffset = this.#base + pos;
          const hdr = this.#hdr;
          hdr[this.#hdrLen++] = buf[pos++]!;
          const need = (hdr[0]! & FLAG_LONG) === 0 ? 2 : 9;
          while (this.#hdrLen < need && pos < len) hdr[this.#hdrLen++] = buf[pos++]!;
          if (this.#hdrLen < need) break;
          this.#hdrLen = 0;
          headerOffset = this.#hdrOffset;
          flags = hdr[0]!;
          size = need === 2 ? hdr[1]! : hdr.readUInt32BE(1) * TWO_32 + hdr.readUInt32BE(5);
        }
        if (!this.#accept(flags, size, headerOffset)) return;
        if (len - pos >= size) {
          const frame =
            size > ZEROMQ_COPIES_UP_TO && size < this.copyBelow
              ? Buffer.from(buf.subarray(pos, pos + size))
              : buf.subarray(pos, pos + size);
          pos += size;
          this.#emit(flags, frame, this.#base + pos - size);
        } else {
          // Keep a view and see whether the next chunk continues it in
          // adjacent memory; the copy (bounds were checked above, so its size
          // is what the peer may legitimately send) is made only if not.
          this.#span = buf.subarray(pos);
          this.#spanSize = size;
          this.#bodyHave = len - pos;
          this.#bodyFlags = flags;
          this.#bodyOffset = this.#base + pos;
          pos = len;
        }
      }
      if (this.#halt) {
        if (this.#stopped) return;
        if (pos < len) this.#queue.unshift(buf.subarray(pos));
        this.#base += pos;
        return;
      }
    }
    this.#base += len;
  }

  /** Checks a frame header against the rules and bounds; on failure reports and stops. */
  #accept(flags: number, size: number, offset: number): boolean {
    if ((flags & FLAG_RESERVED_MASK) !== 0) {
      return this.#fail("ZMTP_MALFORMED_FRAME", `reserved flag bits set (flags 0x${flags.toString(16)})`, offset, "flags");
    }
    if ((flags & FLAG_COMMAND) !== 0) {
      if ((flags & FLAG_MORE) !== 0) return this.#fail("ZMTP_MALFORMED_FRAME", "command frame with MORE flag", offset, "flags");
      if (size > this.maxCommandSize) {
        return this.#fail("ZMTP_MESSAGE_TOO_LARGE", `command of ${size} bytes exceeds ${this.maxCommandSize}`, offset, "size");
      }
      return true;
    }
    const total = this.#msgBytes + size;
    if (total > this.maxMessageSize) {
      return this.#fail("ZMTP_MESSAGE_TOO_LARGE", `message of at least ${total} bytes exceeds ${this.maxMessageSize}`, offset, "size");
    }
    this.#msgBytes = total;
    return true;
  }

  #fail(code: string, message: string, offset: number, state: string): false {
    this.stop();
    this.#sink.error(new DecodeError(code, message, offset, state));
    return false;
  }

  #emit(flags: number, body: Buffer, offset: number): void {
    if ((flags & FLAG_COMMAND) !== 0) {
      this.#sink.command(body, offset);
    } else if ((flags & FLAG_MORE) !== 0) {
      this.#frames.push(body);
    } else if (this.#frames.length === 0) {
      this.#msgBytes = 0;
      this.#sink.message([body]);
    } else {
      const frames = this.#frames;
      frames.push(body);
      this.#frames = [];
      this.#msgBytes = 0;
      this.#sink.message(frames);
    }
  }
}
