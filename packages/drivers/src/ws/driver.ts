import type { Driver, DriverContext } from "@vtx/runtime";
import { createStreamDriver } from "@vtx/runtime";
import { resolveOptions } from "./options.js";
import { wsTransport } from "./transport.js";

/** `ws://host:port/path`: ZWS 2.0 (RFC 45) over WebSocket, run by the runtime's stream driver. */
export function createWsDriver(ctx: DriverContext, options: unknown): Driver {
  return createStreamDriver(ctx, wsTransport("ws", resolveOptions(options, undefined)));
}

/** `wss://host:port/path`: ZWS 2.0 over WebSocket over TLS (node:tls). */
export function createWssDriver(ctx: DriverContext, options: unknown): Driver {
  return createStreamDriver(ctx, wsTransport("wss", resolveOptions(options, undefined)));
}
