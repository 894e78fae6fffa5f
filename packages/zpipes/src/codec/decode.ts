import { DecodeError, ZPIPES_ERR } from "../errors.js";
import { CHUNK_DATA_OFFSET, HEADER_SIZE, MAX_CHUNK, MESSAGE_NAMES, MSG, SIGNATURE_0, SIGNATURE_1 } from "./constants.js";
import type { ZpipesMessage } from "./messages.js";

export interface DecodeOptions {
  /** Longest chunk accepted; longer ones fail with ZPIPES_CHUNK_TOO_LONG. */
  maxChunk?: number;
}

/**
 * Decode one frame into one ZPIPES message. Pure, bounded, never reads past
 * the frame. Throws {@link DecodeError} with a ZPIPES_* code, the byte offset
 * where decoding stopped, and the decoder state (the field being read).
 *
 * Trailing octets after the last field are ignored, as the original does.
 * A decoded chunk is a view into `frame` (no copy).
 */
export function decode(frame: Uint8Array, options?: DecodeOptions): ZpipesMessage {
  const buf = Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  const maxChunk = options?.maxChunk ?? MAX_CHUNK;
  if (buf.length < 2) {
    throw new DecodeError(ZPIPES_ERR.TRUNCATED, "frame too short for a signature", buf.length, "signature");
  }
  if (buf[0] !== SIGNATURE_0 || buf[1] !== SIGNATURE_1) {
    throw new DecodeError(ZPIPES_ERR.BAD_SIGNATURE, "signature is not AA A0", buf[0] !== SIGNATURE_0 ? 0 : 1, "signature");
  }
  if (buf.length < HEADER_SIZE) {
    throw new DecodeError(ZPIPES_ERR.TRUNCATED, "frame ends before the message id", 2, "id");
  }
  const id = buf[2] as number;
  const name = MESSAGE_NAMES[id];
  switch (name) {
    case undefined:
      throw new DecodeError(ZPIPES_ERR.UNKNOWN_ID, `unknown message id ${id}`, 2, "id");
    case "INPUT":
    case "OUTPUT":
      return { type: name, pipename: readString(buf, "pipename") };
    case "INPUT_FAILED":
    case "OUTPUT_FAILED":
    case "READ_FAILED":
    case "WRITE_FAILED":
    case "CLOSE_FAILED":
      return { type: name, reason: readString(buf, "reason") };
    case "READ":
      return { type: name, size: readNumber4(buf, HEADER_SIZE, "size"), timeout: readNumber4(buf, HEADER_SIZE + 4, "timeout") };
    case "READ_OK":
      return { type: name, chunk: readChunk(buf, maxChunk) };
    case "WRITE": {
      const chunk = readChunk(buf, maxChunk);
      return { type: name, chunk, timeout: readNumber4(buf, CHUNK_DATA_OFFSET + chunk.length, "timeout") };
    }
    case "INPUT_OK":
    case "OUTPUT_OK":
    case "READ_END":
    case "READ_TIMEOUT":
    case "WRITE_OK":
    case "WRITE_TIMEOUT":
    case "CLOSE":
    case "CLOSE_OK":
    case "PING":
    case "PING_OK":
    case "INVALID":
      return { type: name };
    default: {
      const never: never = name;
      throw new DecodeError(ZPIPES_ERR.UNKNOWN_ID, `unknown message ${String(never)}`, 2, "id");
    }
  }
}

/** The message id of a frame with a valid signature, or -1. Cheap; no allocation. */
export function peekId(frame: Uint8Array): number {
  return frame.length >= HEADER_SIZE && frame[0] === SIGNATURE_0 && frame[1] === SIGNATURE_1 ? (frame[2] as number) : -1;
}

export function isMessageId(id: number): boolean {
  return id >= MSG.INPUT && id <= MSG.INVALID;
}

function readString(buf: Buffer, state: string): string {
  if (buf.length < HEADER_SIZE + 1) {
    throw new DecodeError(ZPIPES_ERR.TRUNCATED, `frame ends before the ${state} length`, buf.length, state);
  }
  const len = buf[HEADER_SIZE] as number;
  const start = HEADER_SIZE + 1;
  if (buf.length < start + len) {
    throw new DecodeError(ZPIPES_ERR.TRUNCATED, `${state} needs ${len} octets, frame has ${buf.length - start}`, buf.length, state);
  }
  return buf.toString("utf8", start, start + len);
}

function readNumber4(buf: Buffer, at: number, state: string): number {
  if (buf.length < at + 4) {
    throw new DecodeError(ZPIPES_ERR.TRUNCATED, `frame ends inside ${state}`, buf.length, state);
  }
  return buf.readUInt32BE(at);
}

function readChunk(buf: Buffer, maxChunk: number): Buffer {
  const len = readNumber4(buf, HEADER_SIZE, "chunk-length");
  if (len > maxChunk) {
    throw new DecodeError(ZPIPES_ERR.CHUNK_TOO_LONG, `chunk of ${len} octets exceeds ${maxChunk}`, HEADER_SIZE, "chunk-length");
  }
  if (buf.length < CHUNK_DATA_OFFSET + len) {
    throw new DecodeError(ZPIPES_ERR.TRUNCATED, `chunk needs ${len} octets, frame has ${buf.length - CHUNK_DATA_OFFSET}`, buf.length, "chunk");
  }
  return buf.subarray(CHUNK_DATA_OFFSET, CHUNK_DATA_OFFSET + len);
}
