import { VtxError, ZPIPES_ERR } from "../errors.js";
import { CHUNK_DATA_OFFSET, HEADER_SIZE, MAX_NUMBER4, MAX_STRING, MSG, SIGNATURE_0, SIGNATURE_1 } from "./constants.js";
import type { ZpipesMessage } from "./messages.js";

/**
 * Encode one ZPIPES message into one frame (seed 002 ABNF). Pure.
 *
 * Field order and widths follow the ABNF: strings are `number-1 *VCHAR`,
 * numbers `number-4` in network byte order, chunks `number-4 *OCTET`.
 */
export function encode(msg: ZpipesMessage): Buffer {
  switch (msg.type) {
    case "INPUT":
    case "OUTPUT":
      return withString(MSG[msg.type], msg.pipename);
    case "INPUT_FAILED":
    case "OUTPUT_FAILED":
    case "READ_FAILED":
    case "WRITE_FAILED":
    case "CLOSE_FAILED":
      return withString(MSG[msg.type], msg.reason);
    case "READ": {
      const b = header(MSG.READ, 8);
      b.writeUInt32BE(checkNumber(msg.size, "size"), HEADER_SIZE);
      b.writeUInt32BE(checkNumber(msg.timeout, "timeout"), HEADER_SIZE + 4);
      return b;
    }
    case "READ_OK":
      return encodeReadOk(msg.chunk);
    case "WRITE":
      return encodeWrite(msg.chunk, msg.timeout);
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
      return header(MSG[msg.type], 0);
    default: {
      const never: never = msg;
      throw new VtxError(ZPIPES_ERR.UNKNOWN_ID, `cannot encode ${JSON.stringify(never)}`);
    }
  }
}

/** WRITE = signature %d12 chunk timeout. One copy of the chunk into the frame. */
export function encodeWrite(chunk: Uint8Array, timeout: number): Buffer {
  checkNumber(chunk.length, "chunk length");
  const b = Buffer.allocUnsafe(CHUNK_DATA_OFFSET + chunk.length + 4);
  b[0] = SIGNATURE_0;
  b[1] = SIGNATURE_1;
  b[2] = MSG.WRITE;
  b.writeUInt32BE(chunk.length, HEADER_SIZE);
  b.set(chunk, CHUNK_DATA_OFFSET);
  b.writeUInt32BE(checkNumber(timeout, "timeout"), CHUNK_DATA_OFFSET + chunk.length);
  return b;
}

/**
 * WRITE whose chunk is the concatenation of `parts`, gathered straight into
 * the frame (one copy, no intermediate buffer).
 */
export function encodeWriteGather(parts: readonly Uint8Array[], timeout: number): Buffer {
  let length = 0;
  for (const p of parts) length += p.length;
  checkNumber(length, "chunk length");
  const b = Buffer.allocUnsafe(CHUNK_DATA_OFFSET + length + 4);
  b[0] = SIGNATURE_0;
  b[1] = SIGNATURE_1;
  b[2] = MSG.WRITE;
  b.writeUInt32BE(length, HEADER_SIZE);
  let at = CHUNK_DATA_OFFSET;
  for (const p of parts) {
    b.set(p, at);
    at += p.length;
  }
  b.writeUInt32BE(checkNumber(timeout, "timeout"), at);
  return b;
}

/**
 * WRITE as the pieces of one frame, without copying the chunk: a 7-octet
 * header, `parts` themselves, the 4-octet timeout. Concatenated they are
 * exactly {@link encodeWriteGather}'s frame.
 */
export function encodeWriteParts(parts: readonly Uint8Array[], timeout: number): Uint8Array[] {
  let length = 0;
  for (const p of parts) length += p.length;
  checkNumber(length, "chunk length");
  const head = Buffer.allocUnsafe(CHUNK_DATA_OFFSET);
  head[0] = SIGNATURE_0;
  head[1] = SIGNATURE_1;
  head[2] = MSG.WRITE;
  head.writeUInt32BE(length, HEADER_SIZE);
  const tail = Buffer.allocUnsafe(4);
  tail.writeUInt32BE(checkNumber(timeout, "timeout"), 0);
  return [head, ...parts, tail];
}

/** READ_OK = signature %d8 chunk. */
export function encodeReadOk(chunk: Uint8Array): Buffer {
  checkNumber(chunk.length, "chunk length");
  const b = Buffer.allocUnsafe(CHUNK_DATA_OFFSET + chunk.length);
  b[0] = SIGNATURE_0;
  b[1] = SIGNATURE_1;
  b[2] = MSG.READ_OK;
  b.writeUInt32BE(chunk.length, HEADER_SIZE);
  b.set(chunk, CHUNK_DATA_OFFSET);
  return b;
}

/**
 * Write a READ_OK header for `length` data octets into `frame[0..7)`.
 * Used by the broker to turn a received WRITE frame into a READ_OK frame in
 * place: both carry their chunk at offset 7 (signature, id, 4-octet length),
 * so the data never moves.
 */
export function writeReadOkHeader(frame: Uint8Array, length: number): void {
  frame[0] = SIGNATURE_0;
  frame[1] = SIGNATURE_1;
  frame[2] = MSG.READ_OK;
  frame[3] = (length >>> 24) & 0xff;
  frame[4] = (length >>> 16) & 0xff;
  frame[5] = (length >>> 8) & 0xff;
  frame[6] = length & 0xff;
}

function header(id: number, extra: number): Buffer {
  const b = Buffer.allocUnsafe(HEADER_SIZE + extra);
  b[0] = SIGNATURE_0;
  b[1] = SIGNATURE_1;
  b[2] = id;
  return b;
}

function withString(id: number, s: string): Buffer {
  const len = Buffer.byteLength(s, "utf8");
  if (len > MAX_STRING) {
    throw new VtxError(ZPIPES_ERR.STRING_TOO_LONG, `string of ${len} octets exceeds ${MAX_STRING}`);
  }
  const b = header(id, 1 + len);
  b[HEADER_SIZE] = len;
  b.write(s, HEADER_SIZE + 1, "utf8");
  return b;
}

function checkNumber(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_NUMBER4) {
    throw new VtxError(ZPIPES_ERR.BAD_NUMBER, `${what} ${n} is not a number-4 (0..${MAX_NUMBER4})`);
  }
  return n;
}

/** Frames with no fields, built once: the broker sends these most. */
export const FRAME = {
  INPUT_OK: encode({ type: "INPUT_OK" }),
  OUTPUT_OK: encode({ type: "OUTPUT_OK" }),
  READ_END: encode({ type: "READ_END" }),
  READ_TIMEOUT: encode({ type: "READ_TIMEOUT" }),
  WRITE_OK: encode({ type: "WRITE_OK" }),
  WRITE_TIMEOUT: encode({ type: "WRITE_TIMEOUT" }),
  CLOSE: encode({ type: "CLOSE" }),
  CLOSE_OK: encode({ type: "CLOSE_OK" }),
  PING: encode({ type: "PING" }),
  PING_OK: encode({ type: "PING_OK" }),
  INVALID: encode({ type: "INVALID" }),
} as const;
