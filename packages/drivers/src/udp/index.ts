import type { DriverSpec } from "@vtx/runtime/driver-kit";
import type { UdpOptions } from "./udp-options.js";

export type { UdpOptions } from "./udp-options.js";
export { readDropReport, type DropReport } from "./drop-counters.js";

/**
 * `udp://host:port` — ØMQ messages over UDP with the VXU/1 protocol
 * (docs/protocols/udp.md): every socket pattern through the bridges,
 * batching, fragmentation, heartbeats, an optional reliable mode, and
 * zero-configuration discovery when connecting to `udp://*:port`.
 *
 * ```ts
 * vtx.register("udp", udp());                 // plain mode
 * vtx.register("udp", udp({ reliable: true })); // acknowledged, in order
 * ```
 *
 * Options are documented on {@link UdpOptions}; each can also be given per
 * bind/connect as `vtx.bind(s, ep, { driver: { ... } })`.
 */
export function udp(options: UdpOptions = {}): DriverSpec {
  return { module: new URL("./driver.js", import.meta.url).href, export: "createUdpDriver", options };
}
