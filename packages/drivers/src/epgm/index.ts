import type { DriverSpec } from "@vtx/runtime/driver-kit";
import type { EpgmOptions } from "./epgm-options.js";

export type { EpgmOptions } from "./epgm-options.js";

/**
 * `epgm://interface;group:port` — PGM reliable multicast (RFC 3208)
 * encapsulated in UDP with the zmq_pgm(7) payload layout, so libzmq built
 * with OpenPGM is its peer (docs/protocols/epgm.md). PUB/XPUB apps publish,
 * SUB/XSUB apps receive; bind and connect are the same, as in libzmq.
 *
 * ```ts
 * vtx.register("epgm", epgm({ rate: 10_000 }));        // 10 Mbit/s
 * await vtx.connect(pub, "epgm://eth0;239.192.1.1:5555");
 * ```
 *
 * Options are documented on {@link EpgmOptions}; each can also be given per
 * bind/connect as `vtx.connect(s, ep, { driver: { ... } })`.
 */
export function epgm(options: EpgmOptions = {}): DriverSpec {
  return { module: new URL("./driver.js", import.meta.url).href, export: "createEpgmDriver", options };
}
