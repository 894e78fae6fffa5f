/**
 * ZMTP metadata (RFC 37 §"Connection Metadata"), carried by READY and by
 * the INITIATE of PLAIN/CURVE:
 *
 *   metadata = *property
 *   property = name value
 *   name     = OCTET 1*255name-char   ; size, then name
 *   name-char = ALPHA / DIGIT / "-" / "_" / "." / "+"
 *   value    = 4OCTET *OCTET          ; size in network order, then value
 *
 * Names are case-insensitive. Known names: `Socket-Type`, `Identity`
 * (routing id, 0..255 bytes) and `Resource` (3.1); applications use `X-`.
 * Decoding is strict about structure (every size must fit in what is left)
 * and lenient about name characters, like libzmq.
 */
import { DecodeError } from "../errors.js";

export const PROPERTY_SOCKET_TYPE = "Socket-Type";
export const PROPERTY_IDENTITY = "Identity";
export const PROPERTY_RESOURCE = "Resource";
export const MAX_PROPERTY_NAME_LENGTH = 255;
/** Largest routing id libzmq accepts (ZMQ_ROUTING_ID). */
export const MAX_IDENTITY_LENGTH = 255;

/** Property name → raw value, names as received. */
export type Metadata = Map<string, Buffer>;

function isNameChar(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) ||
    c === 0x2d || c === 0x5f || c === 0x2e || c === 0x2b
  );
}

/** Checks a property name for encoding; returns an error message or undefined. */
export function checkPropertyName(name: string): string | undefined {
  if (name.length === 0 || name.length > MAX_PROPERTY_NAME_LENGTH) return `property name must be 1..${MAX_PROPERTY_NAME_LENGTH} characters`;
  for (let i = 0; i < name.length; i++) {
    if (!isNameChar(name.charCodeAt(i))) return `property name ${JSON.stringify(name)} has an invalid character at ${i}`;
  }
  return undefined;
}

/** Encodes properties in order. Throws TypeError on an invalid name (a programming error, not wire input). */
export function encodeMetadata(properties: Iterable<readonly [string, string | Uint8Array]>): Buffer {
  const parts: Array<[string, Uint8Array]> = [];
  let total = 0;
  for (const [name, value] of properties) {
    const bad = checkPropertyName(name);
    if (bad !== undefined) throw new TypeError(bad);
    const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
    if (bytes.length > 0xffffffff) throw new TypeError(`property ${name} value too large`);
    parts.push([name, bytes]);
    total += 1 + name.length + 4 + bytes.length;
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const [name, bytes] of parts) {
    out[at++] = name.length;
    at += out.write(name, at, "latin1");
    out.writeUInt32BE(bytes.length, at);
    at += 4;
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

/**
 * Decodes properties filling all of `data`. Values are copied (metadata
 * outlives the chunk it arrived in). `offset` is the stream offset of
 * `data[0]`, for error reports. Throws {@link DecodeError} `ZMTP_MALFORMED_METADATA`.
 */
export function decodeMetadata(data: Uint8Array, offset = 0): Metadata {
  const props: Metadata = new Map();
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  while (at < buf.length) {
    const nameSize = buf[at]!;
    if (nameSize === 0) throw new DecodeError("ZMTP_MALFORMED_METADATA", "property name is empty", offset + at, "metadata-name");
    if (at + 1 + nameSize + 4 > buf.length) {
      throw new DecodeError("ZMTP_MALFORMED_METADATA", "property name or value size overflows the command", offset + at, "metadata-name");
    }
    const name = buf.toString("latin1", at + 1, at + 1 + nameSize);
    at += 1 + nameSize;
    const valueSize = buf.readUInt32BE(at);
    if (valueSize > buf.length - at - 4) {
      throw new DecodeError("ZMTP_MALFORMED_METADATA", `property ${name} value of ${valueSize} bytes overflows the command`, offset + at, "metadata-value");
    }
    at += 4;
    props.set(name, Buffer.from(buf.subarray(at, at + valueSize)));
    at += valueSize;
  }
  return props;
}

/** Looks a property up by name, case-insensitively (RFC 37). */
export function getProperty(props: ReadonlyMap<string, Buffer>, name: string): Buffer | undefined {
  const exact = props.get(name);
  if (exact !== undefined) return exact;
  const lower = name.toLowerCase();
  for (const [key, value] of props) if (key.toLowerCase() === lower) return value;
  return undefined;
}
