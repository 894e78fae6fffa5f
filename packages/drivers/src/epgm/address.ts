/**
 * The `epgm://interface;group:port` endpoint (zmq_pgm(7), "Connecting a
 * socket"): the interface by name or by its IPv4 address (omitted: the first
 * non-loopback IPv4 interface, else loopback), the group an IPv4 multicast
 * address, the port both the UDP port and PGM's data-destination port (as
 * libzmq sets them).
 */
import { networkInterfaces } from "node:os";
import { isIPv4 } from "node:net";
import type { Endpoint } from "@vtx/runtime/driver-kit";
import { VtxError } from "@vtx/runtime/driver-kit";

export interface EpgmAddress {
  /** The interface's IPv4 address: multicast goes out (and is joined) there, and it is the NLA in SPMs. */
  interfaceAddress: string;
  group: string;
  port: number;
}

export function isMulticastV4(a: string): boolean {
  if (!isIPv4(a)) return false;
  const first = Number(a.split(".")[0]);
  return first >= 224 && first <= 239;
}

export function resolveAddress(e: Endpoint): EpgmAddress {
  const semi = e.host.indexOf(";");
  const iface = semi < 0 ? "" : e.host.slice(0, semi);
  const group = semi < 0 ? e.host : e.host.slice(semi + 1);
  if (!isMulticastV4(group)) {
    throw new VtxError("VTX_ENDPOINT_MALFORMED", `epgm: "${group}" in ${e.raw} is not an IPv4 multicast group (224.0.0.0/4); write epgm://interface;group:port`);
  }
  if (e.port === 0) throw new VtxError("VTX_ENDPOINT_MALFORMED", `epgm: ${e.raw} needs a port`);
  return { interfaceAddress: interfaceAddress(iface, e.raw), group, port: e.port };
}

function interfaceAddress(iface: string, raw: string): string {
  const all = networkInterfaces();
  const v4 = (name: string): string | undefined => all[name]?.find((a) => a.family === "IPv4")?.address;
  if (iface === "" || iface === "*") {
    for (const [name, addrs] of Object.entries(all)) {
      if (addrs?.some((a) => a.family === "IPv4" && !a.internal)) return v4(name) as string;
    }
    return "127.0.0.1";
  }
  const byName = v4(iface);
  if (byName !== undefined) return byName;
  if (isIPv4(iface)) {
    for (const addrs of Object.values(all)) if (addrs?.some((a) => a.family === "IPv4" && a.address === iface)) return iface;
  }
  throw new VtxError("VTX_INTERFACE_UNKNOWN", `epgm: no IPv4 interface "${iface}" (in ${raw})`);
}
