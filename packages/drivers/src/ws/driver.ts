import type { Driver, DriverContext, EndpointRequest } from "@vtx/runtime/driver-kit";
import { createStreamDriver } from "@vtx/runtime/driver-kit";
import { localMechanism, resolveOptions, tlsMaterial } from "./options.js";
import { wsTransport, type WsKind } from "./transport.js";

function create(kind: WsKind, ctx: DriverContext, options: unknown): Driver {
  const base = resolveOptions(options, undefined);
  const inner = createStreamDriver(ctx, wsTransport(kind, base));
  // Refuse bad options at bind/connect time rather than on every dial attempt.
  const check = (req: EndpointRequest): void => {
    localMechanism(req.options);
    const o = resolveOptions(base, req.options.driver);
    if (kind === "wss") tlsMaterial(o);
  };
  return {
    bind: (req) => {
      check(req);
      return inner.bind(req);
    },
    connect: (req) => {
      check(req);
      return inner.connect(req);
    },
    unbind: (id) => inner.unbind(id),
    disconnect: (id) => inner.disconnect(id),
    stop: () => inner.stop(),
  };
}

/** `ws://host:port/path`: ZWS 2.0 (RFC 45) over WebSocket, run by the runtime's stream driver. */
export function createWsDriver(ctx: DriverContext, options: unknown): Driver {
  return create("ws", ctx, options);
}

/** `wss://host:port/path`: ZWS 2.0 over WebSocket over TLS (node:tls). */
export function createWssDriver(ctx: DriverContext, options: unknown): Driver {
  return create("wss", ctx, options);
}
