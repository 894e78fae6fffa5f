/**
 * Packs messages into datagrams (docs/protocols/udp.md §4): small messages
 * are written back to back as MESSAGE commands until the next one does not
 * fit; a message too big for an empty datagram is cut into FRAGMENT commands.
 * Bytes go straight from the frames into a preallocated slab, one copy, no
 * per-message allocation; each finished datagram is a view of the slab handed
 * to the sink *unsealed*: {@link HEADER_ROOM} reserved octets, then commands.
 * Seal it with `ReliableChannel.seal` (or `sealDatagram`).
 */
import { writeU16, writeU32 } from "./bytes.js";
import { UDP_ERR, VtxError } from "./codec-errors.js";
import { controlCommandSize, writeControlCommand, type ControlCommand } from "./codec.js";
import { messageBodySize, writeFrameHeader, writeFrames } from "./frames.js";
import {
  CMD,
  COMMAND_HEADER_SIZE,
  DEFAULT_MAX_DATAGRAM,
  FRAGMENT_FIELDS_SIZE,
  HEADER_ROOM,
  MAX_MAX_DATAGRAM,
  MIN_MAX_DATAGRAM,
} from "./wire-constants.js";

export interface BatcherOptions {
  /** Largest datagram to build, header included (512..65507, default 1200). */
  maxDatagram?: number;
  /**
   * The datagrams are for the reliable class: control commands other than
   * SUBSCRIBE / CANCEL are refused (§2.1). Default false.
   */
  reliable?: boolean;
  /** Octets per slab allocation (default max(64 KiB, 16 × maxDatagram)). */
  slabSize?: number;
}

/** Receives each unsealed datagram; it owns the bytes from then on. */
export type RoomSink = (room: Uint8Array) => void;

export class Batcher {
  readonly reliable: boolean;
  #sink: RoomSink;
  #maxDatagram: number;
  #slabSize: number;
  #slab: Uint8Array;
  /** Start of the open datagram's room in the slab. */
  #start = 0;
  /** Write cursor. */
  #off = HEADER_ROOM;
  #nextMsgId = 0;
  #messages = 0;
  #datagrams = 0;
  #fragments = 0;
  #scratch = new Uint8Array(5);

  constructor(sink: RoomSink, options: BatcherOptions = {}) {
    this.#sink = sink;
    this.reliable = options.reliable ?? false;
    this.#maxDatagram = checkMaxDatagram(options.maxDatagram ?? DEFAULT_MAX_DATAGRAM);
    this.#slabSize = Math.max(options.slabSize ?? 65536, 16 * this.#maxDatagram);
    this.#slab = new Uint8Array(this.#slabSize);
  }

  get maxDatagram(): number {
    return this.#maxDatagram;
  }

  /** Change the datagram size (after HELLO negotiation); flushes first. */
  setMaxDatagram(size: number): void {
    this.flush();
    this.#maxDatagram = checkMaxDatagram(size);
    this.#slabSize = Math.max(this.#slabSize, 16 * size);
    this.#openAt(this.#start);
  }

  /** Octets of commands in the open datagram (0: nothing to flush). */
  get buffered(): number {
    return this.#off - this.#start - HEADER_ROOM;
  }

  /** Messages added, datagrams emitted, fragments written. */
  get stats(): { messages: number; datagrams: number; fragments: number } {
    return { messages: this.#messages, datagrams: this.#datagrams, fragments: this.#fragments };
  }

  /** Largest MESSAGE body that fits in one datagram; bigger ones are fragmented. */
  get maxUnfragmentedBody(): number {
    return this.#maxDatagram - HEADER_ROOM - COMMAND_HEADER_SIZE;
  }

  /** Chunk size S used when fragmenting (§4). */
  get fragmentChunkSize(): number {
    return this.#maxDatagram - HEADER_ROOM - COMMAND_HEADER_SIZE - FRAGMENT_FIELDS_SIZE;
  }

  /** Add one message (at least one frame). May emit datagrams. */
  add(frames: readonly Uint8Array[]): void {
    const body = messageBodySize(frames);
    this.#messages++;
    if (body > this.maxUnfragmentedBody) {
      this.#fragment(frames, body);
      return;
    }
    const size = COMMAND_HEADER_SIZE + body;
    if (this.#off + size > this.#start + this.#maxDatagram) this.#emit();
    const buf = this.#slab;
    const off = this.#off;
    buf[off] = CMD.MESSAGE;
    writeU16(buf, off + 1, body);
    this.#off = writeFrames(buf, off + COMMAND_HEADER_SIZE, frames);
  }

  /** Add a control command (only SUBSCRIBE / CANCEL in a reliable batcher). */
  addControl(cmd: ControlCommand): void {
    if (this.reliable && cmd.type !== "SUBSCRIBE" && cmd.type !== "CANCEL") {
      throw new VtxError(UDP_ERR.BAD_CLASS, `${cmd.type} may not travel in a reliable datagram`);
    }
    const size = controlCommandSize(cmd);
    if (size > this.#maxDatagram - HEADER_ROOM) {
      throw new VtxError(UDP_ERR.ENCODE_RANGE, `${cmd.type} of ${size} octets does not fit a ${this.#maxDatagram}-octet datagram`);
    }
    if (this.#off + size > this.#start + this.#maxDatagram) this.#emit();
    this.#off = writeControlCommand(this.#slab, this.#off, cmd);
  }

  /** End of a send burst: emit the open datagram if it holds anything. */
  flush(): void {
    if (this.#off > this.#start + HEADER_ROOM) this.#emit();
  }

  #emit(): void {
    const room = this.#slab.subarray(this.#start, this.#off);
    // Keep later datagrams 8-aligned in the slab; state is updated before the
    // sink runs so a sink that re-enters add() sees a fresh datagram.
    this.#openAt((this.#off + 7) & ~7);
    this.#datagrams++;
    this.#sink(room);
  }

  #openAt(start: number): void {
    if (start + this.#maxDatagram > this.#slab.length) {
      this.#slab = new Uint8Array(this.#slabSize);
      start = 0;
    }
    this.#start = start;
    this.#off = start + HEADER_ROOM;
  }

  /** §4: cut the `frames` body into count chunks of S octets (the last 1..S). */
  #fragment(frames: readonly Uint8Array[], total: number): void {
    this.flush();
    const S = this.fragmentChunkSize;
    const count = Math.ceil(total / S);
    const msgId = this.#nextMsgId;
    this.#nextMsgId = (msgId + 1) >>> 0;
    // Stream cursor over the body: frame index, in header or data, position.
    const scratch = this.#scratch;
    let fi = 0;
    let inHeader = true;
    let pos = 0;
    let hdrLen = writeFrameHeader(scratch, 0, (frames[0] as Uint8Array).length, frames.length > 1);
    for (let index = 0; index < count; index++) {
      if (index > 0) this.#emit();
      const chunk = index < count - 1 ? S : total - S * (count - 1);
      const buf = this.#slab;
      let off = this.#off;
      buf[off] = CMD.FRAGMENT;
      writeU16(buf, off + 1, FRAGMENT_FIELDS_SIZE + chunk);
      writeU32(buf, off + 3, msgId);
      writeU32(buf, off + 7, index);
      writeU32(buf, off + 11, count);
      writeU32(buf, off + 15, total);
      off += COMMAND_HEADER_SIZE + FRAGMENT_FIELDS_SIZE;
      let left = chunk;
      while (left > 0) {
        if (inHeader) {
          while (left > 0 && pos < hdrLen) {
            buf[off++] = scratch[pos++] as number;
            left--;
          }
          if (pos === hdrLen) {
            inHeader = false;
            pos = 0;
          }
        } else {
          const frame = frames[fi] as Uint8Array;
          const k = Math.min(left, frame.length - pos);
          if (k > 0) {
            buf.set(k === frame.length ? frame : frame.subarray(pos, pos + k), off);
            off += k;
            pos += k;
            left -= k;
          }
        }
        if (!inHeader && pos === (frames[fi] as Uint8Array).length && fi + 1 < frames.length) {
          fi++;
          pos = 0;
          inHeader = true;
          hdrLen = writeFrameHeader(scratch, 0, (frames[fi] as Uint8Array).length, fi + 1 < frames.length);
        }
      }
      this.#off = off;
      this.#fragments++;
    }
    // The last fragment's datagram stays open: later messages may follow it.
  }
}

function checkMaxDatagram(size: number): number {
  if (!Number.isInteger(size) || size < MIN_MAX_DATAGRAM || size > MAX_MAX_DATAGRAM) {
    throw new VtxError(UDP_ERR.ENCODE_RANGE, `max datagram ${size} is outside ${MIN_MAX_DATAGRAM}..${MAX_MAX_DATAGRAM}`);
  }
  return size;
}
