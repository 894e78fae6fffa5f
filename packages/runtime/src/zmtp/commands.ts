/**
 * ZMTP commands (RFC 37 §"Commands"): a command frame's body is
 *
 *   command-body = command-name command-data
 *   command-name = OCTET 1*255command-name-char   ; size, then ALPHA
 *
 * Codecs for the commands of the core protocol: READY and ERROR (§3.x
 * handshake), SUBSCRIBE, CANCEL, PING, PONG (added by 3.1). Mechanism
 * commands (HELLO, WELCOME, INITIATE...) live with their mechanism.
 * Encoders return command bodies; frame them with `encodeCommandFrame`.
 */
import { DecodeError } from "../errors.js";

export const CMD_READY = "READY";
export const CMD_ERROR = "ERROR";
export const CMD_SUBSCRIBE = "SUBSCRIBE";
export const CMD_CANCEL = "CANCEL";
export const CMD_PING = "PING";
export const CMD_PONG = "PONG";

/** RFC 37 §PING: ping-context = 0*16OCTET. */
export const MAX_PING_CONTEXT = 16;
/** RFC 37 §ERROR: error-reason = OCTET 0*255VCHAR. */
export const MAX_ERROR_REASON = 255;
/** RFC 37 §PING: the TTL is 16 bits of deciseconds. */
export const MAX_PING_TTL_DECISECONDS = 0xffff;

export interface ZmtpCommand {
  /** Command name, e.g. "READY". */
  readonly name: string;
  /** Everything after the name. Aliases the frame body. */
  readonly data: Buffer;
  /** Set when this was libzmq 4.3's malformed PLAIN ERROR (name bytes differ from `name`). */
  readonly libzmqQuirk?: true;
}

/**
 * libzmq 4.3's PLAIN mechanism writes its ERROR command as `"\x05ERROR"` in
 * C, where the hex escape swallows the `E`: the body on the wire is
 * 0x5E "RROR" reason-size reason (seen from libzmq 4.3.5). Its PLAIN client
 * recognises only that form. We accept it as ERROR and can produce it
 * ({@link encodeLibzmqPlainError}) so libzmq clients report an auth failure.
 */
const LIBZMQ_PLAIN_ERROR_PREFIX = Buffer.from([0x5e, 0x52, 0x52, 0x4f, 0x52]);

function isLibzmqPlainError(body: Buffer): boolean {
  return (
    body.length >= 6 &&
    body[0] === 0x5e &&
    body[1] === 0x52 &&
    body[2] === 0x52 &&
    body[3] === 0x4f &&
    body[4] === 0x52 &&
    body[5] === body.length - 6
  );
}

/** Splits a command body into name and data. Throws DecodeError `ZMTP_MALFORMED_COMMAND`. */
export function parseCommand(body: Buffer, offset = 0): ZmtpCommand {
  if (body.length === 0) throw new DecodeError("ZMTP_MALFORMED_COMMAND", "empty command frame", offset, "command-name");
  const size = body[0]!;
  if (size === 0x5e && isLibzmqPlainError(body)) return { name: CMD_ERROR, data: body.subarray(5), libzmqQuirk: true };
  if (size === 0) throw new DecodeError("ZMTP_MALFORMED_COMMAND", "command name is empty", offset, "command-name");
  if (size > body.length - 1) {
    throw new DecodeError("ZMTP_MALFORMED_COMMAND", `command name of ${size} bytes overflows a ${body.length}-byte command`, offset, "command-name");
  }
  for (let i = 1; i <= size; i++) {
    const c = body[i]! | 0x20; // ALPHA only: fold case
    if (c < 0x61 || c > 0x7a) throw new DecodeError("ZMTP_MALFORMED_COMMAND", "command name is not alphabetic", offset + i, "command-name");
  }
  return { name: body.toString("latin1", 1, 1 + size), data: body.subarray(1 + size) };
}

/** Stream offset of a command's data, given the offset of its body. */
export function commandDataOffset(command: ZmtpCommand, bodyOffset: number): number {
  return command.libzmqQuirk === true ? bodyOffset + LIBZMQ_PLAIN_ERROR_PREFIX.length : bodyOffset + 1 + command.name.length;
}

/** Builds a command body from a name and data parts. */
export function encodeCommandBody(name: string, ...data: Uint8Array[]): Buffer {
  if (name.length === 0 || name.length > 255) throw new TypeError("command name must be 1..255 characters");
  let total = 1 + name.length;
  for (const d of data) total += d.length;
  const out = Buffer.allocUnsafe(total);
  out[0] = name.length;
  let at = 1 + out.write(name, 1, "latin1");
  for (const d of data) {
    out.set(d, at);
    at += d.length;
  }
  return out;
}

/** READY: metadata is the output of `encodeMetadata`. */
export function encodeReady(metadata: Uint8Array): Buffer {
  return encodeCommandBody(CMD_READY, metadata);
}

/** ERROR: the reason is cut to 255 bytes (RFC 37 §ERROR). */
export function encodeError(reason: string): Buffer {
  let bytes = Buffer.from(reason, "utf8");
  if (bytes.length > MAX_ERROR_REASON) bytes = bytes.subarray(0, MAX_ERROR_REASON);
  return encodeCommandBody(CMD_ERROR, Uint8Array.of(bytes.length), bytes);
}

/** ERROR in the form libzmq 4.3's PLAIN client recognises (see {@link parseCommand}); reason cut to 255 bytes. */
export function encodeLibzmqPlainError(reason: string): Buffer {
  let bytes = Buffer.from(reason, "utf8");
  if (bytes.length > MAX_ERROR_REASON) bytes = bytes.subarray(0, MAX_ERROR_REASON);
  return Buffer.concat([LIBZMQ_PLAIN_ERROR_PREFIX, Uint8Array.of(bytes.length), bytes]);
}

/** Decodes ERROR data into its reason. */
export function decodeError(data: Buffer, offset = 0): string {
  if (data.length === 0) throw new DecodeError("ZMTP_MALFORMED_COMMAND", "ERROR without reason size", offset, "error-reason");
  const size = data[0]!;
  if (size !== data.length - 1) {
    throw new DecodeError("ZMTP_MALFORMED_COMMAND", `ERROR reason size ${size} does not match ${data.length - 1} bytes`, offset, "error-reason");
  }
  return data.toString("utf8", 1);
}

export function encodeSubscribe(topic: Uint8Array): Buffer {
  return encodeCommandBody(CMD_SUBSCRIBE, topic);
}

export function encodeCancel(topic: Uint8Array): Buffer {
  return encodeCommandBody(CMD_CANCEL, topic);
}

/** PING: `ttl` in deciseconds (0..65535), context 0..16 bytes. */
export function encodePing(ttlDeciseconds: number, context: Uint8Array = new Uint8Array(0)): Buffer {
  if (!Number.isInteger(ttlDeciseconds) || ttlDeciseconds < 0 || ttlDeciseconds > MAX_PING_TTL_DECISECONDS) {
    throw new TypeError(`PING TTL must be an integer 0..${MAX_PING_TTL_DECISECONDS} deciseconds`);
  }
  if (context.length > MAX_PING_CONTEXT) throw new TypeError(`PING context must be at most ${MAX_PING_CONTEXT} bytes`);
  return encodeCommandBody(CMD_PING, Uint8Array.of(ttlDeciseconds >>> 8, ttlDeciseconds & 0xff), context);
}

export interface PingData {
  /** Time to live in deciseconds. */
  readonly ttl: number;
  readonly context: Buffer;
}

export function decodePing(data: Buffer, offset = 0): PingData {
  if (data.length < 2) throw new DecodeError("ZMTP_MALFORMED_COMMAND", "PING shorter than its TTL", offset, "ping-ttl");
  if (data.length - 2 > MAX_PING_CONTEXT) {
    throw new DecodeError("ZMTP_MALFORMED_COMMAND", `PING context of ${data.length - 2} bytes exceeds ${MAX_PING_CONTEXT}`, offset + 2, "ping-context");
  }
  return { ttl: data.readUInt16BE(0), context: Buffer.from(data.subarray(2)) };
}

export function encodePong(context: Uint8Array = new Uint8Array(0)): Buffer {
  if (context.length > MAX_PING_CONTEXT) throw new TypeError(`PONG context must be at most ${MAX_PING_CONTEXT} bytes`);
  return encodeCommandBody(CMD_PONG, context);
}

export function decodePong(data: Buffer, offset = 0): Buffer {
  if (data.length > MAX_PING_CONTEXT) {
    throw new DecodeError("ZMTP_MALFORMED_COMMAND", `PONG context of ${data.length} bytes exceeds ${MAX_PING_CONTEXT}`, offset, "ping-context");
  }
  return Buffer.from(data);
}
