import type { DriverSpec } from "@vtx/runtime/driver-kit";
import type { WsDriverOptions } from "./options.js";

export type { WsDriverOptions, Pem } from "./options.js";

/**
 * `ws://host:port/path`: ZWS 2.0 (ZeroMQ RFC 45), ØMQ over WebSocket.
 * Speaks to libzmq's own `ws://`, to jszmq in browsers, and to itself;
 * connects may go through an HTTP proxy (`proxy: "http://user:pass@host:port"`).
 *
 * ```ts
 * vtx.register("ws", ws());
 * await vtx.bind(rep, "ws://127.0.0.1:8080/zmq");
 * ```
 *
 * Options here apply to every endpoint; `vtx.bind/connect(s, ep, { driver: {...} })`
 * overrides them per endpoint. See docs/protocols/zws.md.
 */
export function ws(options: WsDriverOptions = {}): DriverSpec {
  return { module: new URL("./driver.js", import.meta.url).href, export: "createWsDriver", options };
}

/**
 * `wss://host:port/path`: ZWS 2.0 over TLS. Binds need `key` and `cert`;
 * connects verify the server against `ca` (or the system's CAs) and
 * `servername` (default the host), `rejectUnauthorized` true by default.
 */
export function wss(options: WsDriverOptions = {}): DriverSpec {
  return { module: new URL("./driver.js", import.meta.url).href, export: "createWssDriver", options };
}
