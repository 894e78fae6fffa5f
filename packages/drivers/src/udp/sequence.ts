/**
 * 32-bit sequence numbers compared with serial arithmetic (RFC 1982, used by
 * docs/protocols/udp.md §5): numbers wrap, and `a` is after `b` when
 * (a − b) mod 2^32 lies in 1 .. 2^31 − 1.
 */

/** Signed distance from `b` to `a`: > 0 when `a` is after `b`. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** `seq + n` wrapped to 32 bits. */
export function seqAdd(seq: number, n: number): number {
  return (seq + n) >>> 0;
}
