/**
 * ZRE discovery beacon, ZeroMQ RFC 36 "Node Discovery": one UDP datagram of
 * 22 octets: 'Z' 'R' 'E', beacon version %x01, the node's 16-octet UUID, and
 * the 2-octet big-endian port of its ROUTER. Port 0 announces that the node
 * is leaving. Pure: no I/O.
 */
import { DecodeError, VtxError } from "@vtx/runtime/errors";

export const ZRE_BEACON_SIZE = 22;
export const ZRE_BEACON_VERSION = 0x01;

export interface ZreBeacon {
  uuid: Uint8Array;
  /** The sender's ROUTER port; 0 means the sender is leaving the network. */
  port: number;
}

export function encodeBeacon(b: ZreBeacon): Uint8Array {
  if (b.uuid.length !== 16) throw new VtxError("ZRE_BAD_FIELD", `UUID must be 16 bytes, got ${b.uuid.length}`);
  if (!Number.isInteger(b.port) || b.port < 0 || b.port > 0xffff) throw new VtxError("ZRE_BAD_FIELD", `port must be 0..65535, got ${b.port}`);
  const out = new Uint8Array(ZRE_BEACON_SIZE);
  out[0] = 0x5a; // 'Z'
  out[1] = 0x52; // 'R'
  out[2] = 0x45; // 'E'
  out[3] = ZRE_BEACON_VERSION;
  out.set(b.uuid, 4);
  out[20] = (b.port >>> 8) & 0xff;
  out[21] = b.port & 0xff;
  return out;
}

/**
 * Decodes one datagram. Anything on the discovery port that is not exactly a
 * version-1 ZRE beacon is an error with code `ZRE_BEACON_SIZE`,
 * `ZRE_BEACON_SIGNATURE` or `ZRE_BEACON_VERSION` (callers drop it).
 */
export function decodeBeacon(d: Uint8Array): ZreBeacon {
  // A datagram is complete by construction, so a wrong size is checked
  // first; the signature is checked on what is there.
  if (d.length >= 3 && (d[0] !== 0x5a || d[1] !== 0x52 || d[2] !== 0x45)) {
    const at = d[0] !== 0x5a ? 0 : d[1] !== 0x52 ? 1 : 2;
    throw new DecodeError("ZRE_BEACON_SIGNATURE", "datagram does not start with 'ZRE'", at, "signature");
  }
  if (d.length !== ZRE_BEACON_SIZE) {
    throw new DecodeError("ZRE_BEACON_SIZE", `beacon is ${d.length} bytes, expected ${ZRE_BEACON_SIZE}`, Math.min(d.length, ZRE_BEACON_SIZE), d.length < 3 ? "signature" : "body");
  }
  if (d[3] !== ZRE_BEACON_VERSION) {
    throw new DecodeError("ZRE_BEACON_VERSION", `beacon version ${d[3]}, expected ${ZRE_BEACON_VERSION}`, 3, "version");
  }
  return { uuid: d.slice(4, 20), port: (d[20]! << 8) | d[21]! };
}
