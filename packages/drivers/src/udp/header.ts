/**
 * The 12-octet datagram header and the optional ack block
 * (docs/protocols/udp.md §2): reading one, and sealing a batch into a datagram.
 */
import { readU32, writeU32 } from "./bytes.js";
import { DecodeError, UDP_ERR } from "./codec-errors.js";
import {
  ACK_BLOCK_SIZE,
  FLAG_ACK,
  FLAG_RELIABLE,
  FLAGS_KNOWN,
  HEADER_ROOM,
  HEADER_SIZE,
  SIGNATURE_0,
  SIGNATURE_1,
  VERSION,
} from "./wire-constants.js";

export interface DatagramHeader {
  /** Flag R: the datagram is in the reliable class (§5). */
  reliable: boolean;
  /** The sender's session tag (§3). */
  session: number;
  /** Sequence number in the datagram's class (§5). */
  seq: number;
  /** Flag A: an ack block is present. */
  hasAck: boolean;
  /** Lowest R seq the sender has not received (valid iff hasAck). */
  ackNext: number;
  /** Bit i: R seq ackNext+1+i received (valid iff hasAck). */
  ackMask: number;
  /** Offset of the first command. */
  bodyOffset: number;
}

export function emptyHeader(): DatagramHeader {
  return { reliable: false, session: 0, seq: 0, hasAck: false, ackNext: 0, ackMask: 0, bodyOffset: HEADER_SIZE };
}

/**
 * Read and check the header of `dg` into `out` (a fresh object if omitted).
 * Throws DecodeError UDP_TRUNCATED, UDP_BAD_SIGNATURE, UDP_BAD_VERSION or
 * UDP_BAD_FLAGS.
 */
export function readHeader(dg: Uint8Array, out: DatagramHeader = emptyHeader()): DatagramHeader {
  const n = dg.length;
  if (n < 2) throw new DecodeError(UDP_ERR.TRUNCATED, "datagram too short for a signature", n, "signature");
  if (dg[0] !== SIGNATURE_0 || dg[1] !== SIGNATURE_1) {
    throw new DecodeError(UDP_ERR.BAD_SIGNATURE, "signature is not 56 58", dg[0] !== SIGNATURE_0 ? 0 : 1, "signature");
  }
  if (n < 3) throw new DecodeError(UDP_ERR.TRUNCATED, "datagram ends before the version", n, "version");
  if (dg[2] !== VERSION) throw new DecodeError(UDP_ERR.BAD_VERSION, `version ${dg[2]} is not ${VERSION}`, 2, "version");
  if (n < HEADER_SIZE) throw new DecodeError(UDP_ERR.TRUNCATED, "datagram shorter than the 12-octet header", n, "header");
  const flags = dg[3] as number;
  if ((flags & ~FLAGS_KNOWN) !== 0) {
    throw new DecodeError(UDP_ERR.BAD_FLAGS, `reserved flag bits set (0x${flags.toString(16)})`, 3, "flags");
  }
  out.reliable = (flags & FLAG_RELIABLE) !== 0;
  out.session = readU32(dg, 4);
  out.seq = readU32(dg, 8);
  out.hasAck = (flags & FLAG_ACK) !== 0;
  if (out.hasAck) {
    if (n < HEADER_SIZE + ACK_BLOCK_SIZE) {
      throw new DecodeError(UDP_ERR.TRUNCATED, "datagram ends inside the ack block", n, "ack");
    }
    out.ackNext = readU32(dg, HEADER_SIZE);
    out.ackMask = readU32(dg, HEADER_SIZE + 4);
    out.bodyOffset = HEADER_SIZE + ACK_BLOCK_SIZE;
  } else {
    out.ackNext = 0;
    out.ackMask = 0;
    out.bodyOffset = HEADER_SIZE;
  }
  return out;
}

/**
 * Seal a batch into a datagram. `room` holds {@link HEADER_ROOM} reserved
 * octets followed by the commands (what a Batcher emits). With an ack the
 * header fills the whole room; without, it is written 8 octets in and the
 * datagram starts there, so the commands never move.
 */
export function sealDatagram(
  room: Uint8Array,
  reliable: boolean,
  session: number,
  seq: number,
  hasAck: boolean,
  ackNext = 0,
  ackMask = 0,
): Uint8Array {
  const at = hasAck ? 0 : ACK_BLOCK_SIZE;
  room[at] = SIGNATURE_0;
  room[at + 1] = SIGNATURE_1;
  room[at + 2] = VERSION;
  room[at + 3] = (reliable ? FLAG_RELIABLE : 0) | (hasAck ? FLAG_ACK : 0);
  writeU32(room, at + 4, session);
  writeU32(room, at + 8, seq);
  if (hasAck) {
    writeU32(room, HEADER_SIZE, ackNext);
    writeU32(room, HEADER_SIZE + 4, ackMask);
    return room;
  }
  return room.subarray(at);
}

/** A fresh room for a datagram with no commands (a pure acknowledgement). */
export function emptyRoom(): Uint8Array {
  return new Uint8Array(HEADER_ROOM);
}
