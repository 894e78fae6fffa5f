/**
 * The zmq_pgm(7) payload of each APDU (docs/protocols/epgm.md §3): a 16-bit
 * offset of the first message that starts in the APDU (0xFFFF when none
 * does), then a slice of one continuous stream of ZMTP/1.0 frames
 * (`length` of flags+body as one octet, or 0xFF and 8 octets; a flags octet
 * whose bit 0 is MORE; the body), as libzmq's pgm_sender and pgm_receiver
 * (v1_encoder/v1_decoder) use. Pure: no I/O.
 *
 * {@link PayloadWriter} cuts the stream into APDUs of at most `maxApdu`
 * octets; {@link PayloadReader} is a push decoder for one source's APDUs in
 * sequence order: it joins the stream at the first offset it sees (a late
 * joiner skips what came before), and after a loss it is reset and joins
 * again at the next offset, as libzmq's receiver does.
 */
import { readU16, writeU16 } from "../udp/bytes.js";
import { DecodeError, EPGM_ERR, VtxError } from "./codec-errors.js";
import { NO_MESSAGE_START, PAYLOAD_OFFSET_SIZE } from "./wire-constants.js";

/** ZMTP/1.0 flags: bit 0 = more frames follow. */
const FLAG_MORE = 0x01;
/** Frames of flags+body up to 254 octets take a one-octet length. */
const SHORT_MAX = 0xfe;

/** The offset field of an APDU payload, checked: throws EPGM_BAD_OFFSET when it points past the data. */
export function payloadOffset(apdu: Uint8Array): number {
  if (apdu.length < PAYLOAD_OFFSET_SIZE) throw new DecodeError(EPGM_ERR.BAD_OFFSET, `APDU of ${apdu.length} octets has no offset`, 0, "offset");
  const off = readU16(apdu, 0);
  if (off !== NO_MESSAGE_START && off > apdu.length - PAYLOAD_OFFSET_SIZE) {
    throw new DecodeError(EPGM_ERR.BAD_OFFSET, `offset ${off} past the ${apdu.length - PAYLOAD_OFFSET_SIZE} octets of data`, 0, "offset");
  }
  return off;
}

/** The ZMTP/1.0 header of one frame: length (1 or 9 octets) and flags. */
export function frameHeader(bodyLength: number, more: boolean): Uint8Array {
  const len = bodyLength + 1;
  if (len <= SHORT_MAX) return Uint8Array.of(len, more ? FLAG_MORE : 0);
  // 0xFF, the length as a 64-bit big-endian integer (below 2^53 here), the flags.
  const h = new Uint8Array(10);
  h[0] = 0xff;
  let v = len;
  for (let i = 8; i >= 1; i--) {
    h[i] = v % 256;
    v = Math.floor(v / 256);
  }
  h[9] = more ? FLAG_MORE : 0;
  return h;
}

/**
 * Cuts messages into APDU payloads. `emit` receives each APDU (offset
 * included), a fresh buffer it may keep.
 */
export class PayloadWriter {
  readonly maxApdu: number;
  readonly #emit: (apdu: Uint8Array) => void;
  #buf: Uint8Array;
  #fill = PAYLOAD_OFFSET_SIZE;
  #offset = NO_MESSAGE_START;

  constructor(maxApdu: number, emit: (apdu: Uint8Array) => void) {
    if (maxApdu < PAYLOAD_OFFSET_SIZE + 1 || maxApdu > 0xffff) throw new VtxError(EPGM_ERR.ENCODE_RANGE, `APDU size ${maxApdu}`);
    this.maxApdu = maxApdu;
    this.#emit = emit;
    this.#buf = new Uint8Array(maxApdu);
  }

  /** Octets waiting in the APDU being filled (0 when none). */
  get pending(): number {
    return this.#fill - PAYLOAD_OFFSET_SIZE;
  }

  /** Appends one message (all its frames); full APDUs are emitted as they fill. */
  write(frames: readonly Uint8Array[]): void {
    if (frames.length === 0) return;
    // zmq_pgm(7): the offset points at the first *message* start in the APDU.
    if (this.#offset === NO_MESSAGE_START) this.#offset = this.#fill - PAYLOAD_OFFSET_SIZE;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i] as Uint8Array;
      this.#append(frameHeader(f.length, i < frames.length - 1));
      this.#append(f);
    }
  }

  /** Emits the APDU being filled, if it holds anything. */
  flush(): void {
    if (this.#fill > PAYLOAD_OFFSET_SIZE) this.#emitCurrent();
  }

  #append(b: Uint8Array): void {
    let at = 0;
    while (at < b.length) {
      const n = Math.min(b.length - at, this.maxApdu - this.#fill);
      this.#buf.set(n === b.length && at === 0 ? b : b.subarray(at, at + n), this.#fill);
      this.#fill += n;
      at += n;
      if (this.#fill === this.maxApdu) this.#emitCurrent();
    }
  }

  #emitCurrent(): void {
    const apdu = this.#fill === this.maxApdu ? this.#buf : this.#buf.slice(0, this.#fill);
    writeU16(apdu, 0, this.#offset);
    this.#emit(apdu);
    this.#buf = new Uint8Array(this.maxApdu);
    this.#fill = PAYLOAD_OFFSET_SIZE;
    this.#offset = NO_MESSAGE_START;
  }
}

export interface PayloadSink {
  /** A whole message; frames are views into the APDUs or fresh copies. */
  message(frames: Uint8Array[]): void;
  /** The stream was broken here (the partial message is dropped; the reader joins again at the next offset). */
  dropped(code: string, detail: string): void;
}

type State = "len" | "len8" | "flags" | "body";

/** Push decoder of one source's payload stream (APDUs in sequence order). */
export class PayloadReader {
  readonly #sink: PayloadSink;
  readonly #maxMessage: number;
  #joined = false;
  #state: State = "len";
  #lenBytes = new Uint8Array(8);
  #lenFill = 0;
  #bodyLength = 0;
  #more = false;
  #body: Uint8Array | null = null;
  #bodyFill = 0;
  #frames: Uint8Array[] = [];
  #messageBytes = 0;

  /** `maxMessage`: largest message (sum of frame bodies) accepted; -1 = unlimited. */
  constructor(sink: PayloadSink, maxMessage = -1) {
    this.#sink = sink;
    this.#maxMessage = maxMessage < 0 ? Number.MAX_SAFE_INTEGER : maxMessage;
  }

  /** True once the reader found a message start. */
  get joined(): boolean {
    return this.#joined;
  }

  /** Forgets any partial message; the next APDU with an offset starts the stream again (after a loss). */
  reset(): void {
    this.#joined = false;
    this.#state = "len";
    this.#lenFill = 0;
    this.#body = null;
    this.#bodyFill = 0;
    this.#frames = [];
    this.#messageBytes = 0;
  }

  /** One APDU (offset + data), in sequence. A bad offset throws (EPGM_BAD_OFFSET) before anything changes. */
  push(apdu: Uint8Array): void {
    const off = payloadOffset(apdu);
    let at = PAYLOAD_OFFSET_SIZE;
    if (!this.#joined) {
      if (off === NO_MESSAGE_START) return;
      this.#joined = true;
      at += off;
    }
    this.#decode(apdu, at);
  }

  #broken(code: string, detail: string): void {
    this.reset();
    this.#sink.dropped(code, detail);
  }

  #decode(b: Uint8Array, start: number): void {
    let at = start;
    const end = b.length;
    while (at < end) {
      switch (this.#state) {
        case "len": {
          const v = b[at++] as number;
          if (v === 0xff) {
            this.#state = "len8";
            this.#lenFill = 0;
            break;
          }
          if (v === 0) return this.#broken(EPGM_ERR.BAD_FRAME, "a frame of length 0");
          this.#bodyLength = v - 1;
          this.#state = "flags";
          break;
        }
        case "len8": {
          while (this.#lenFill < 8 && at < end) this.#lenBytes[this.#lenFill++] = b[at++] as number;
          if (this.#lenFill < 8) return;
          let len = 0;
          for (let i = 0; i < 8; i++) len = len * 256 + (this.#lenBytes[i] as number);
          if (len === 0 || len > Number.MAX_SAFE_INTEGER) return this.#broken(EPGM_ERR.BAD_FRAME, `a frame of length ${len}`);
          this.#bodyLength = len - 1;
          this.#state = "flags";
          break;
        }
        case "flags": {
          const flags = b[at++] as number;
          this.#more = (flags & FLAG_MORE) !== 0;
          this.#messageBytes += this.#bodyLength;
          if (this.#messageBytes > this.#maxMessage) {
            return this.#broken(EPGM_ERR.TOO_LARGE, `a message of more than ${this.#maxMessage} octets`);
          }
          this.#state = "body";
          this.#body = null;
          this.#bodyFill = 0;
          if (this.#bodyLength === 0) this.#frameDone(new Uint8Array(0));
          break;
        }
        case "body": {
          const want = this.#bodyLength - this.#bodyFill;
          const n = Math.min(want, end - at);
          if (this.#body === null && n === want) {
            // The whole body is in this APDU: a view, no copy.
            this.#frameDone(b.subarray(at, at + n));
          } else {
            this.#body ??= new Uint8Array(this.#bodyLength);
            this.#body.set(b.subarray(at, at + n), this.#bodyFill);
            this.#bodyFill += n;
            if (this.#bodyFill === this.#bodyLength) this.#frameDone(this.#body);
          }
          at += n;
          break;
        }
      }
    }
  }

  #frameDone(body: Uint8Array): void {
    this.#frames.push(body);
    this.#state = "len";
    this.#body = null;
    this.#bodyFill = 0;
    if (this.#more) return;
    const frames = this.#frames;
    this.#frames = [];
    this.#messageBytes = 0;
    this.#sink.message(frames);
  }
}
