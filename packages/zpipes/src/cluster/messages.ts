/**
 * Inter-broker messages carried in ZRE WHISPER/SHOUT content frames, group
 * `ZPIPES`. Pure: no I/O. docs/zpipes-cluster.md is the specification.
 *
 * The original zbroker's frames are `[command][pipename]` (+ `[data]` for
 * DATA), with commands HAVE WRITER, HAVE READER, DATA, DROP READER, DROP
 * WRITER. We keep those first frames as they are and append our fields
 * (transfer id, sequence numbers, credit) as further frames, and add ACK.
 */
import { DecodeError, VtxError } from "@vtx/runtime/errors";
import { CHUNK_DATA_OFFSET, MSG, SIGNATURE_0, SIGNATURE_1 } from "../codec/constants.js";

export const CLUSTER_GROUP = "ZPIPES";

/** A transfer id is 8 random octets chosen by the writer's broker. */
export const XFER_ID_SIZE = 8;
/** Bound on a pipe name (ZPIPES strings are at most 255 octets). */
export const MAX_PIPE_NAME = 255;
/** Bound on a DATA chunk between brokers. */
export const MAX_CLUSTER_DATA = 16 * 1024 * 1024;
/** Bound on a DROP reason. */
export const MAX_REASON = 1024;

export type ClusterMessage =
  /** Unmatched local writer (SHOUT, or WHISPER to a peer that just joined). */
  | { type: "HAVE WRITER"; pipe: string }
  /** The writer's broker attached the receiver as reader of `pipe` under `xfer` (WHISPER). */
  | { type: "HAVE WRITER"; pipe: string; xfer: Buffer }
  /** Unmatched local reader, asking for a writer; `window` is the credit in bytes it grants. */
  | { type: "HAVE READER"; pipe: string; window: number }
  /**
   * Chunk `seq` (1, 2, ...) of transfer `xfer`. The data frame is the chunk
   * as a complete ZPIPES READ_OK frame (AA A0 08, 4-octet length, chunk): the
   * writer's broker builds it in place over the WRITE that brought the chunk,
   * and the reader's broker passes it on to its reader without a copy.
   */
  | { type: "DATA"; pipe: string; readOk: Buffer; xfer: Buffer; seq: number }
  /** Chunks up to and including `seq` are in the reader's pipe: their bytes are credit again. */
  | { type: "ACK"; pipe: string; xfer: Buffer; seq: number }
  /** The writer's side ended after chunk `last`; `reason` empty = clean close, else failure. */
  | { type: "DROP WRITER"; pipe: string; xfer: Buffer; last: number; reason: string }
  /** The reader's side ended (or refused the transfer); the writer's next call fails. */
  | { type: "DROP READER"; pipe: string; xfer: Buffer; reason: string };

const u32 = (n: number): Buffer => {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
};

const CMD = {
  HAVE_WRITER: Buffer.from("HAVE WRITER"),
  HAVE_READER: Buffer.from("HAVE READER"),
  DATA: Buffer.from("DATA"),
  ACK: Buffer.from("ACK"),
  DROP_WRITER: Buffer.from("DROP WRITER"),
  DROP_READER: Buffer.from("DROP READER"),
};

/**
 * DATA frames for the hot path: the pipe name already encoded, no message
 * object. Same bytes as {@link encodeCluster} of a DATA.
 */
export function encodeDataFrames(name: Buffer, readOk: Buffer, xfer: Buffer, seq: number): Buffer[] {
  return [CMD.DATA, name, readOk, xfer, u32(seq)];
}

/** A pipe name as its frame (checked once per transfer). */
export function pipeNameFrame(pipe: string): Buffer {
  return checkName(pipe);
}

function checkName(pipe: string): Buffer {
  const b = Buffer.from(pipe);
  if (b.length === 0 || b.length > MAX_PIPE_NAME) throw new VtxError("CLUSTER_BAD_FIELD", `pipe name of ${b.length} bytes`);
  return b;
}

/** Encodes a message into ZRE content frames. DATA's chunk is not copied. */
export function encodeCluster(m: ClusterMessage): Buffer[] {
  const name = checkName(m.pipe);
  switch (m.type) {
    case "HAVE WRITER":
      return "xfer" in m ? [CMD.HAVE_WRITER, name, m.xfer] : [CMD.HAVE_WRITER, name];
    case "HAVE READER":
      return [CMD.HAVE_READER, name, u32(m.window)];
    case "DATA":
      return [CMD.DATA, name, m.readOk, m.xfer, u32(m.seq)];
    case "ACK":
      return [CMD.ACK, name, m.xfer, u32(m.seq)];
    case "DROP WRITER":
      return [CMD.DROP_WRITER, name, m.xfer, u32(m.last), Buffer.from(m.reason.slice(0, MAX_REASON))];
    case "DROP READER":
      return [CMD.DROP_READER, name, m.xfer, Buffer.from(m.reason.slice(0, MAX_REASON))];
  }
}

/**
 * Decodes content frames. Errors (DecodeError, offset = frame index):
 * `CLUSTER_UNKNOWN_COMMAND`, `CLUSTER_MISSING_FRAME`, `CLUSTER_BAD_FIELD`.
 * Extra trailing frames are ignored (room for later fields).
 */
export function decodeCluster(frames: readonly Buffer[]): ClusterMessage {
  const frame = (i: number, what: string): Buffer => {
    const f = frames[i];
    if (f === undefined) throw new DecodeError("CLUSTER_MISSING_FRAME", `missing ${what}`, i, what);
    return f;
  };
  const num = (i: number, what: string): number => {
    const f = frame(i, what);
    if (f.length !== 4) throw new DecodeError("CLUSTER_BAD_FIELD", `${what} is ${f.length} bytes, expected 4`, i, what);
    return f.readUInt32BE(0);
  };
  const xferAt = (i: number): Buffer => {
    const f = frame(i, "xfer");
    if (f.length !== XFER_ID_SIZE) throw new DecodeError("CLUSTER_BAD_FIELD", `transfer id is ${f.length} bytes`, i, "xfer");
    return f;
  };
  const text = (i: number, what: string, max: number): string => {
    const f = frame(i, what);
    if (f.length > max) throw new DecodeError("CLUSTER_BAD_FIELD", `${what} is ${f.length} bytes, over ${max}`, i, what);
    return f.toString("utf8");
  };
  const command = frame(0, "command").toString("latin1");
  const known = ["HAVE WRITER", "HAVE READER", "DATA", "ACK", "DROP WRITER", "DROP READER"];
  if (!known.includes(command)) throw new DecodeError("CLUSTER_UNKNOWN_COMMAND", `unknown command '${command.slice(0, 32)}'`, 0, "command");
  const pipe = text(1, "pipename", MAX_PIPE_NAME);
  if (pipe.length === 0) throw new DecodeError("CLUSTER_BAD_FIELD", "empty pipe name", 1, "pipename");
  switch (command) {
    case "HAVE WRITER":
      return frames.length > 2 ? { type: "HAVE WRITER", pipe, xfer: xferAt(2) } : { type: "HAVE WRITER", pipe };
    case "HAVE READER":
      // The original sends no window; a peer that does not say grants a default.
      return { type: "HAVE READER", pipe, window: frames.length > 2 ? num(2, "window") : 0 };
    case "DATA": {
      const data = frame(2, "data");
      if (data.length > MAX_CLUSTER_DATA + CHUNK_DATA_OFFSET) throw new DecodeError("CLUSTER_BAD_FIELD", `DATA of ${data.length} bytes`, 2, "data");
      if (
        data.length < CHUNK_DATA_OFFSET ||
        data[0] !== SIGNATURE_0 ||
        data[1] !== SIGNATURE_1 ||
        data[2] !== MSG.READ_OK ||
        data.readUInt32BE(3) !== data.length - CHUNK_DATA_OFFSET
      ) {
        throw new DecodeError("CLUSTER_BAD_FIELD", "DATA's data frame is not a READ_OK frame of its own length", 2, "data");
      }
      return { type: "DATA", pipe, readOk: data, xfer: xferAt(3), seq: num(4, "seq") };
    }
    case "ACK":
      return { type: "ACK", pipe, xfer: xferAt(2), seq: num(3, "seq") };
    case "DROP WRITER":
      return { type: "DROP WRITER", pipe, xfer: xferAt(2), last: num(3, "last"), reason: text(4, "reason", MAX_REASON) };
    default:
      return { type: "DROP READER", pipe, xfer: xferAt(2), reason: text(3, "reason", MAX_REASON) };
  }
}
