/**
 * The udp:// driver (docs/protocols/udp.md): the factory the driver host
 * runs in its worker. Each bind and connect is one {@link UdpEndpoint} with
 * its own `dgram` socket.
 */
import type { Driver, DriverContext, EndpointRequest } from "@vtx/runtime/driver-kit";
import { VtxError } from "@vtx/runtime/driver-kit";
import { resolveOptions } from "./udp-options.js";
import { UdpEndpoint } from "./udp-endpoint.js";

/** Factory run inside the driver host (named in the DriverSpec). */
export function createUdpDriver(ctx: DriverContext, options: unknown): Driver {
  const endpoints = new Map<string, UdpEndpoint>();
  const lingering = new Set<Promise<void>>();

  const open = (req: EndpointRequest, kind: "bind" | "connect"): UdpEndpoint => {
    if (endpoints.has(req.id)) throw new VtxError("VTX_ENDPOINT_IN_USE", `${req.endpoint.raw} is already ${kind === "bind" ? "bound" : "connected"}`);
    const opts = resolveOptions(options, req.options);
    const host = req.endpoint.host;
    const mode = kind === "bind" ? "bind" : host === "" || host === "*" ? "discover" : "connect";
    return new UdpEndpoint(ctx, req, mode, opts);
  };

  const end = (id: string): void => {
    const ep = endpoints.get(id);
    if (ep === undefined) return;
    endpoints.delete(id);
    const p = ep
      .drain(ep.opts.linger, ctx.signal)
      .catch(() => undefined)
      .finally(() => {
        ep.close();
        lingering.delete(p);
      });
    lingering.add(p);
  };

  return {
    async bind(req) {
      const ep = open(req, "bind");
      const at = await ep.bind();
      endpoints.set(req.id, ep);
      return at;
    },
    async connect(req) {
      const ep = open(req, "connect");
      await ep.connect();
      endpoints.set(req.id, ep);
    },
    async unbind(id) {
      end(id);
    },
    async disconnect(id) {
      end(id);
    },
    async stop() {
      for (const id of [...endpoints.keys()]) end(id);
      await Promise.all([...lingering]);
    },
  };
}
