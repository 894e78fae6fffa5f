/**
 * The epgm:// driver (docs/protocols/epgm.md): the factory the driver host
 * runs in its worker. Each bind and connect is one {@link EpgmEndpoint}.
 */
import type { Driver, DriverContext, EndpointRequest } from "@vtx/runtime/driver-kit";
import { VtxError } from "@vtx/runtime/driver-kit";
import { EpgmEndpoint } from "./epgm-endpoint.js";
import { resolveOptions } from "./epgm-options.js";

/** Factory run inside the driver host (named in the DriverSpec). */
export function createEpgmDriver(ctx: DriverContext, options: unknown): Driver {
  const endpoints = new Map<string, EpgmEndpoint>();
  const lingering = new Set<Promise<void>>();

  const open = async (req: EndpointRequest): Promise<string> => {
    if (endpoints.has(req.id)) throw new VtxError("VTX_ENDPOINT_IN_USE", `${req.endpoint.raw} is already open`);
    const ep = new EpgmEndpoint(ctx, req, resolveOptions(options, req.options));
    await ep.open();
    endpoints.set(req.id, ep);
    return req.endpoint.raw;
  };

  const end = (id: string): void => {
    const ep = endpoints.get(id);
    if (ep === undefined) return;
    endpoints.delete(id);
    const p = ep
      .drain(ctx.signal)
      .catch(() => undefined)
      .finally(() => {
        ep.close();
        lingering.delete(p);
      });
    lingering.add(p);
  };

  return {
    // As in libzmq, bind and connect are the same for (e)pgm.
    bind: (req) => open(req),
    async connect(req) {
      await open(req);
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
