/**
 * Big-endian integer access on plain Uint8Arrays (the wire is network byte
 * order, docs/protocols/udp.md §2). Hand-rolled rather than a DataView so the
 * hot paths neither allocate a view per datagram nor depend on Buffer.
 * Callers check bounds first.
 */

export function readU16(b: Uint8Array, o: number): number {
  return ((b[o] as number) << 8) | (b[o + 1] as number);
}

export function readU32(b: Uint8Array, o: number): number {
  return (
    ((b[o] as number) * 0x1000000 + (((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number))) >>> 0
  );
}

export function writeU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}
