import type { DriverSpec } from "@vtx/runtime/driver-kit";
import type { TlsOptions } from "./options.js";

export type { TlsOptions } from "./options.js";

/**
 * `tls://host:port` — ZMTP 3.1 inside TLS (node:tls). Plain ZMTP inside a
 * TLS stream, so a libzmq `tcp://` peer behind a TLS terminator (stunnel)
 * talks to it. NULL, PLAIN and CURVE all work inside.
 *
 * ```ts
 * vtx.register("tls", tls({ ca: caPem }));                      // clients trust this CA
 * await vtx.bind(rep, "tls://*:5556", { driver: { key, cert } }); // or give key/cert in tls({...})
 * await vtx.connect(req, "tls://server.example:5556");
 * ```
 *
 * Failures carry `VTX_TLS_*` codes (see tls-errors.ts) in `handshake-failed` events.
 */
export function tls(options: TlsOptions = {}): DriverSpec {
  return { module: new URL("./driver.js", import.meta.url).href, export: "createTlsDriver", options };
}
