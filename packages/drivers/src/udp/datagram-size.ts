/**
 * The default datagram size for a peer (docs/protocols/udp.md §1): 1200
 * octets, which no LAN path fragments, except toward a loopback address,
 * whose MTU is 64 KiB: there 16 KiB datagrams cut the datagram rate (the
 * bottleneck of one Node UDP socket) by 14× for 1 KiB messages, measured
 * with packages/drivers/bench/udp-loopback.bench.mjs.
 */
import { DEFAULT_MAX_DATAGRAM } from "./wire-constants.js";

/** Default max datagram toward loopback peers. */
export const DEFAULT_LOOPBACK_MAX_DATAGRAM = 16384;

/** Is `address` (an IP literal) a loopback address: 127.0.0.0/8, ::1, or ::ffff:127.x.y.z? */
export function isLoopbackAddress(address: string): boolean {
  const a = address.toLowerCase();
  return a.startsWith("127.") || a === "::1" || a === "0:0:0:0:0:0:0:1" || a.startsWith("::ffff:127.");
}

/** The default max datagram for a peer at `address`. */
export function defaultMaxDatagram(address: string): number {
  return isLoopbackAddress(address) ? DEFAULT_LOOPBACK_MAX_DATAGRAM : DEFAULT_MAX_DATAGRAM;
}
