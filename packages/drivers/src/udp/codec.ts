/**
 * Encode and decode VXU datagrams (docs/protocols/udp.md §2). Pure: no I/O,
 * no clocks. Decoding is two-phase so a datagram is acted on all or nothing:
 * {@link parseDatagram} checks the header and every command (throwing a
 * DecodeError with a UDP_* code, the offset and the field), then
 * {@link dispatchCommands} hands the commands to a sink without re-checking.
 * Decoded frames, topics and chunks are views into the datagram (no copy).
 */
import { readU16, readU32, writeU16, writeU32 } from "./bytes.js";
import { DecodeError, UDP_ERR, VtxError } from "./codec-errors.js";
import { scanFrames } from "./frames.js";
import { emptyHeader, readHeader, sealDatagram, type DatagramHeader } from "./header.js";
import { socketTypeCode, socketTypeFromCode, type SocketType } from "./socket-type.js";
import {
  BEACON,
  CMD,
  COMMAND_HEADER_SIZE,
  DEFAULT_MAX_MESSAGE,
  FRAGMENT_FIELDS_SIZE,
  HEADER_ROOM,
  HELLO_FIXED_SIZE,
  HELLO_FLAG_RELIABLE,
  MAX_COMMAND_BODY,
  MAX_SHORT_STRING,
  MIN_MAX_DATAGRAM,
  REFUSE,
  type BeaconKind,
  type RefuseCode,
} from "./wire-constants.js";

/** HELLO and HELLO-OK (§2.1, §3). */
export interface HelloCommand {
  type: "HELLO" | "HELLO_OK";
  socketType: SocketType;
  /** The sender asks for a reliable session (§3). */
  reliable: boolean;
  /** Largest datagram the sender accepts (>= 512). */
  maxDatagram: number;
  /** R datagrams the sender buffers out of order (>= 1). */
  window: number;
  /** The sender's heartbeat interval in ms, 0 = none (§3.2). */
  heartbeat: number;
  /** ZMTP-style identity, 0..255 octets. */
  identity: Uint8Array;
}

export interface RefuseCommand {
  type: "REFUSE";
  code: RefuseCode;
  /** The session tag of the datagram being refused (§3). */
  refusedTag: number;
  reason: string;
}

export interface PingCommand {
  type: "PING" | "PONG";
  token: number;
}

export interface ByeCommand {
  type: "BYE";
}

export interface BeaconCommand {
  type: "BEACON";
  kind: BeaconKind;
  socketType: SocketType;
}

export interface SubscriptionCommand {
  type: "SUBSCRIBE" | "CANCEL";
  topic: Uint8Array;
}

/** Every command but MESSAGE and FRAGMENT, which have their own fast paths. */
export type ControlCommand = HelloCommand | RefuseCommand | PingCommand | ByeCommand | BeaconCommand | SubscriptionCommand;

/** Commands allowed only in unreliable datagrams (§2.1). */
export type UnreliableOnlyCommand = Exclude<ControlCommand, SubscriptionCommand>;

/** Receives the commands of a datagram, in order. */
export interface DatagramSink {
  /** A whole message in one MESSAGE command: frames are views into the datagram. */
  message(frames: Uint8Array[]): void;
  /** One FRAGMENT (§4): `chunk` is a view into the datagram. */
  fragment(msgId: number, index: number, count: number, total: number, chunk: Uint8Array): void;
  /** Any other command. */
  control(cmd: ControlCommand): void;
}

export interface DecodeLimits {
  /** Largest message accepted; a FRAGMENT announcing more fails UDP_TOO_LARGE. Default 16 MiB. */
  maxMessageSize?: number;
}

const utf8Decoder = new TextDecoder("utf-8", { fatal: false });
const utf8Encoder = new TextEncoder();

function truncated(off: number, state: string, what: string): DecodeError {
  return new DecodeError(UDP_ERR.TRUNCATED, `datagram ends inside ${what}`, off, state);
}

function badLength(off: number, state: string, what: string): DecodeError {
  return new DecodeError(UDP_ERR.BAD_LENGTH, what, off, state);
}

/**
 * Check one command body `dg[at, end)` of type `type`. Throws a DecodeError;
 * `reliable` is the datagram's class.
 */
function checkCommand(dg: Uint8Array, type: number, at: number, end: number, reliable: boolean, maxMessage: number): void {
  const len = end - at;
  // §2.1: only MESSAGE, FRAGMENT, SUBSCRIBE and CANCEL may wait in a reorder buffer.
  if (reliable && type >= CMD.HELLO && type <= CMD.BEACON) {
    throw new DecodeError(UDP_ERR.BAD_CLASS, `command 0x${type.toString(16)} is not allowed in a reliable datagram`, at - COMMAND_HEADER_SIZE, "command-type");
  }
  switch (type) {
    case CMD.MESSAGE:
      scanFrames(dg, at, end, null);
      return;
    case CMD.FRAGMENT: {
      if (len < FRAGMENT_FIELDS_SIZE) throw badLength(at, "fragment", `FRAGMENT body of ${len} octets is shorter than 16`);
      const index = readU32(dg, at + 4);
      const count = readU32(dg, at + 8);
      const total = readU32(dg, at + 12);
      const chunk = len - FRAGMENT_FIELDS_SIZE;
      checkFragmentFields(index, count, total, chunk, at);
      if (total > maxMessage) {
        throw new DecodeError(UDP_ERR.TOO_LARGE, `message of ${total} octets exceeds the maximum ${maxMessage}`, at + 12, "fragment-total");
      }
      return;
    }
    case CMD.SUBSCRIBE:
    case CMD.CANCEL:
      return;
    case CMD.HELLO:
    case CMD.HELLO_OK: {
      if (len < HELLO_FIXED_SIZE) throw badLength(at, "hello", `HELLO body of ${len} octets is shorter than ${HELLO_FIXED_SIZE}`);
      if (socketTypeFromCode(dg[at] as number) === undefined) {
        throw new DecodeError(UDP_ERR.BAD_FIELD, `unknown socket type ${dg[at]}`, at, "hello-socket-type");
      }
      if (((dg[at + 1] as number) & ~HELLO_FLAG_RELIABLE) !== 0) {
        throw new DecodeError(UDP_ERR.BAD_FLAGS, "reserved HELLO flag bits set", at + 1, "hello-flags");
      }
      if (readU16(dg, at + 2) < MIN_MAX_DATAGRAM) {
        throw new DecodeError(UDP_ERR.BAD_FIELD, `max-datagram ${readU16(dg, at + 2)} is below ${MIN_MAX_DATAGRAM}`, at + 2, "hello-max-datagram");
      }
      if (readU16(dg, at + 4) === 0) throw new DecodeError(UDP_ERR.BAD_FIELD, "window 0", at + 4, "hello-window");
      const idLen = dg[at + 10] as number;
      if (HELLO_FIXED_SIZE + idLen !== len) {
        throw badLength(at + 10, "hello-identity", `identity of ${idLen} octets does not fill the HELLO body of ${len}`);
      }
      return;
    }
    case CMD.REFUSE: {
      if (len < 6) throw badLength(at, "refuse", `REFUSE body of ${len} octets is shorter than 6`);
      const code = dg[at] as number;
      if (code < REFUSE.INCOMPATIBLE || code > REFUSE.VERSION) {
        throw new DecodeError(UDP_ERR.BAD_FIELD, `unknown refuse code ${code}`, at, "refuse-code");
      }
      if (6 + (dg[at + 5] as number) !== len) throw badLength(at + 5, "refuse-reason", "reason does not fill the REFUSE body");
      return;
    }
    case CMD.PING:
    case CMD.PONG:
      if (len !== 4) throw badLength(at, "ping", `PING/PONG body of ${len} octets is not 4`);
      return;
    case CMD.BYE:
      if (len !== 0) throw badLength(at, "bye", `BYE body of ${len} octets is not empty`);
      return;
    case CMD.BEACON:
      if (len !== 2) throw badLength(at, "beacon", `BEACON body of ${len} octets is not 2`);
      if (dg[at] !== BEACON.PROBE && dg[at] !== BEACON.OFFER) {
        throw new DecodeError(UDP_ERR.BAD_FIELD, `unknown beacon kind ${dg[at]}`, at, "beacon-kind");
      }
      if (socketTypeFromCode(dg[at + 1] as number) === undefined) {
        throw new DecodeError(UDP_ERR.BAD_FIELD, `unknown socket type ${dg[at + 1]}`, at + 1, "beacon-socket-type");
      }
      return;
    default:
      throw new DecodeError(UDP_ERR.UNKNOWN_TYPE, `unknown command type 0x${type.toString(16)}`, at - COMMAND_HEADER_SIZE, "command-type");
  }
}

/**
 * §4: the checks one fragment allows on its own. Some S must satisfy
 * S × (count − 1) < total ≤ S × count, with S = chunk for a non-last fragment
 * and S = (total − chunk) / (count − 1) for the last.
 */
export function checkFragmentFields(index: number, count: number, total: number, chunk: number, at = 0): void {
  const bad = (what: string): never => {
    throw new DecodeError(UDP_ERR.BAD_FRAGMENT, what, at, "fragment");
  };
  if (count === 0) bad("fragment count 0");
  if (index >= count) bad(`fragment index ${index} >= count ${count}`);
  if (chunk === 0) bad("empty fragment");
  if (chunk > total) bad(`fragment of ${chunk} octets is larger than its message of ${total}`);
  if (index < count - 1) {
    // S = chunk: the last fragment must then hold 1..S octets.
    if (chunk * (count - 1) >= total || chunk * count < total) bad(`chunk ${chunk} x count ${count} cannot make total ${total}`);
  } else if (count > 1) {
    const rest = total - chunk;
    if (rest % (count - 1) !== 0 || rest / (count - 1) < chunk) bad(`last chunk ${chunk} of count ${count} cannot end total ${total}`);
  } else if (chunk !== total) {
    bad(`single fragment of ${chunk} octets is not the whole message of ${total}`);
  }
}

/**
 * Check a whole datagram: header, ack block and every command. Returns the
 * header; throws DecodeError (UDP_*) on the first problem found.
 */
export function parseDatagram(dg: Uint8Array, limits?: DecodeLimits, out: DatagramHeader = emptyHeader()): DatagramHeader {
  const header = readHeader(dg, out);
  const maxMessage = limits?.maxMessageSize ?? DEFAULT_MAX_MESSAGE;
  const n = dg.length;
  let off = header.bodyOffset;
  while (off < n) {
    if (n - off < COMMAND_HEADER_SIZE) throw truncated(off, "command-header", "a command header");
    const type = dg[off] as number;
    const len = readU16(dg, off + 1);
    const at = off + COMMAND_HEADER_SIZE;
    if (len > n - at) throw truncated(n, "command-body", `a command body of ${len} octets`);
    checkCommand(dg, type, at, at + len, header.reliable, maxMessage);
    off = at + len;
  }
  return header;
}

/**
 * Hand the commands of a datagram already checked by {@link parseDatagram}
 * to `sink`, in order.
 */
export function dispatchCommands(dg: Uint8Array, bodyOffset: number, sink: DatagramSink): void {
  const n = dg.length;
  let off = bodyOffset;
  while (off < n) {
    const type = dg[off] as number;
    const at = off + COMMAND_HEADER_SIZE;
    const end = at + readU16(dg, off + 1);
    off = end;
    switch (type) {
      case CMD.MESSAGE: {
        const frames: Uint8Array[] = [];
        scanFrames(dg, at, end, frames);
        sink.message(frames);
        break;
      }
      case CMD.FRAGMENT:
        sink.fragment(readU32(dg, at), readU32(dg, at + 4), readU32(dg, at + 8), readU32(dg, at + 12), dg.subarray(at + FRAGMENT_FIELDS_SIZE, end));
        break;
      case CMD.SUBSCRIBE:
      case CMD.CANCEL:
        sink.control({ type: type === CMD.SUBSCRIBE ? "SUBSCRIBE" : "CANCEL", topic: dg.subarray(at, end) });
        break;
      case CMD.HELLO:
      case CMD.HELLO_OK:
        sink.control({
          type: type === CMD.HELLO ? "HELLO" : "HELLO_OK",
          socketType: socketTypeFromCode(dg[at] as number) as SocketType,
          reliable: ((dg[at + 1] as number) & HELLO_FLAG_RELIABLE) !== 0,
          maxDatagram: readU16(dg, at + 2),
          window: readU16(dg, at + 4),
          heartbeat: readU32(dg, at + 6),
          identity: dg.subarray(at + HELLO_FIXED_SIZE, end),
        });
        break;
      case CMD.REFUSE:
        sink.control({
          type: "REFUSE",
          code: dg[at] as RefuseCode,
          refusedTag: readU32(dg, at + 1),
          reason: utf8Decoder.decode(dg.subarray(at + 6, end)),
        });
        break;
      case CMD.PING:
      case CMD.PONG:
        sink.control({ type: type === CMD.PING ? "PING" : "PONG", token: readU32(dg, at) });
        break;
      case CMD.BYE:
        sink.control({ type: "BYE" });
        break;
      case CMD.BEACON:
        sink.control({ type: "BEACON", kind: dg[at] as BeaconKind, socketType: socketTypeFromCode(dg[at + 1] as number) as SocketType });
        break;
      default:
        // parseDatagram has rejected every other type.
        throw new VtxError("VTX_INTERNAL", `dispatchCommands: unchecked command type 0x${type.toString(16)}`);
    }
  }
}

/** Parse then dispatch: for callers with no reordering between the two. */
export function decodeDatagram(dg: Uint8Array, sink: DatagramSink, limits?: DecodeLimits): DatagramHeader {
  const header = parseDatagram(dg, limits);
  dispatchCommands(dg, header.bodyOffset, sink);
  return header;
}

// ---------------------------------------------------------------- encoding

function shortString(bytes: Uint8Array, what: string): Uint8Array {
  if (bytes.length > MAX_SHORT_STRING) throw new VtxError(UDP_ERR.ENCODE_RANGE, `${what} of ${bytes.length} octets exceeds 255`);
  return bytes;
}

/** Octets of a control command, its 3-octet command header included. */
export function controlCommandSize(cmd: ControlCommand): number {
  switch (cmd.type) {
    case "HELLO":
    case "HELLO_OK":
      return COMMAND_HEADER_SIZE + HELLO_FIXED_SIZE + shortString(cmd.identity, "identity").length;
    case "REFUSE":
      return COMMAND_HEADER_SIZE + 6 + shortString(utf8Encoder.encode(cmd.reason), "reason").length;
    case "PING":
    case "PONG":
      return COMMAND_HEADER_SIZE + 4;
    case "BYE":
      return COMMAND_HEADER_SIZE;
    case "BEACON":
      return COMMAND_HEADER_SIZE + 2;
    case "SUBSCRIBE":
    case "CANCEL":
      if (cmd.topic.length > MAX_COMMAND_BODY) throw new VtxError(UDP_ERR.ENCODE_RANGE, `topic of ${cmd.topic.length} octets exceeds 65535`);
      return COMMAND_HEADER_SIZE + cmd.topic.length;
  }
}

/** Write a control command (header included) at `off`; returns the end offset. */
export function writeControlCommand(buf: Uint8Array, off: number, cmd: ControlCommand): number {
  const at = off + COMMAND_HEADER_SIZE;
  let end: number;
  switch (cmd.type) {
    case "HELLO":
    case "HELLO_OK": {
      const id = shortString(cmd.identity, "identity");
      buf[off] = cmd.type === "HELLO" ? CMD.HELLO : CMD.HELLO_OK;
      buf[at] = socketTypeCode(cmd.socketType);
      buf[at + 1] = cmd.reliable ? HELLO_FLAG_RELIABLE : 0;
      if (cmd.maxDatagram < MIN_MAX_DATAGRAM || cmd.maxDatagram > 0xffff) throw new VtxError(UDP_ERR.ENCODE_RANGE, `max-datagram ${cmd.maxDatagram} out of range`);
      if (cmd.window < 1 || cmd.window > 0xffff) throw new VtxError(UDP_ERR.ENCODE_RANGE, `window ${cmd.window} out of range`);
      writeU16(buf, at + 2, cmd.maxDatagram);
      writeU16(buf, at + 4, cmd.window);
      writeU32(buf, at + 6, cmd.heartbeat);
      buf[at + 10] = id.length;
      buf.set(id, at + HELLO_FIXED_SIZE);
      end = at + HELLO_FIXED_SIZE + id.length;
      break;
    }
    case "REFUSE": {
      const reason = shortString(utf8Encoder.encode(cmd.reason), "reason");
      buf[off] = CMD.REFUSE;
      buf[at] = cmd.code;
      writeU32(buf, at + 1, cmd.refusedTag);
      buf[at + 5] = reason.length;
      buf.set(reason, at + 6);
      end = at + 6 + reason.length;
      break;
    }
    case "PING":
    case "PONG":
      buf[off] = cmd.type === "PING" ? CMD.PING : CMD.PONG;
      writeU32(buf, at, cmd.token);
      end = at + 4;
      break;
    case "BYE":
      buf[off] = CMD.BYE;
      end = at;
      break;
    case "BEACON":
      buf[off] = CMD.BEACON;
      buf[at] = cmd.kind;
      buf[at + 1] = socketTypeCode(cmd.socketType);
      end = at + 2;
      break;
    case "SUBSCRIBE":
    case "CANCEL":
      buf[off] = cmd.type === "SUBSCRIBE" ? CMD.SUBSCRIBE : CMD.CANCEL;
      buf.set(cmd.topic, at);
      end = at + cmd.topic.length;
      break;
  }
  writeU16(buf, off + 1, end - at);
  return end;
}

/**
 * An unsealed datagram (HEADER_ROOM reserved octets, then the commands) of
 * control commands, for sealing with {@link sealDatagram} or a channel.
 * Rare traffic (handshake, heartbeats, beacons), so it allocates exactly.
 */
export function encodeControlRoom(commands: readonly ControlCommand[]): Uint8Array {
  let size = HEADER_ROOM;
  for (const cmd of commands) size += controlCommandSize(cmd);
  const room = new Uint8Array(size);
  let off = HEADER_ROOM;
  for (const cmd of commands) off = writeControlCommand(room, off, cmd);
  return room;
}

/**
 * A whole datagram of control commands, unreliable class, no ack block: for
 * traffic outside a session (HELLO retries before a channel exists, REFUSE,
 * BEACON).
 */
export function encodeControlDatagram(session: number, seq: number, commands: readonly ControlCommand[]): Uint8Array {
  const room = encodeControlRoom(commands);
  return sealDatagram(room, false, session, seq, false);
}
