/**
 * Where a discovery PROBE goes by default (docs/protocols/udp.md §7): the
 * directed broadcast address of every IPv4 interface (loopback included, so
 * servers on the same host answer), and the limited broadcast
 * 255.255.255.255 (which only leaves by the default route, if there is one).
 */
import { networkInterfaces } from "node:os";

export function defaultBroadcastAddresses(): string[] {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family !== "IPv4") continue;
      const broadcast = directedBroadcast(a.address, a.netmask);
      if (broadcast !== undefined) out.add(broadcast);
    }
  }
  out.add("255.255.255.255");
  return [...out];
}

/** address | ~netmask, or undefined for a /31 or /32 (no broadcast address). */
export function directedBroadcast(address: string, netmask: string): string | undefined {
  const a = address.split(".").map(Number);
  const m = netmask.split(".").map(Number);
  if (a.length !== 4 || m.length !== 4) return undefined;
  const host = m.reduce((bits, x) => bits + 8 - popcount(x), 0);
  if (host < 2) return undefined;
  return a.map((x, i) => (x | (~(m[i] as number) & 0xff)) & 0xff).join(".");
}

function popcount(x: number): number {
  let n = 0;
  for (let v = x & 0xff; v !== 0; v >>= 1) n += v & 1;
  return n;
}
