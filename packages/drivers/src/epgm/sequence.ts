/**
 * 32-bit sequence number arithmetic (RFC 3208 §3: sequence numbers wrap;
 * comparisons are serial, RFC 1982 style). Pure.
 */

/** `a - b` as a signed 32-bit distance. */
export function sqnDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** `a + n` modulo 2^32. */
export function sqnAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** True when `a` comes before `b`. */
export function sqnBefore(a: number, b: number): boolean {
  return sqnDiff(a, b) < 0;
}
