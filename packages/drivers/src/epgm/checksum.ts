/**
 * The PGM checksum (RFC 3208 §8): the 16-bit one's complement of the one's
 * complement sum of the whole PGM packet, checksum field zero, no pseudo
 * header. Zero on the wire means "not computed", so a computed 0 is sent as
 * 0xFFFF (OpenPGM's pgm_csum_fold does the same), and a receiver compares
 * what it computes with what it got. Pure.
 */

/** One's complement sum of `b[start, end)` as big-endian 16-bit words (odd tail padded with 0), unfolded. */
export function csumPartial(b: Uint8Array, start: number, end: number, sum = 0): number {
  let s = sum;
  let i = start;
  for (; i + 1 < end; i += 2) s += ((b[i] as number) << 8) | (b[i + 1] as number);
  if (i < end) s += (b[i] as number) << 8;
  return s;
}

/** Folds a partial sum to 16 bits and complements it; never returns 0. */
export function csumFold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s === 0xffff ? 0xffff : ~s & 0xffff;
}

/** The checksum of a packet whose checksum field (octets 6-7) is zero. */
export function pgmChecksum(packet: Uint8Array): number {
  return csumFold(csumPartial(packet, 0, packet.length));
}
