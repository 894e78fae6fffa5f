import type { Driver, DriverContext } from "@vtx/runtime/driver-kit";
import { createStreamDriver } from "@vtx/runtime/driver-kit";
import { resolveTlsOptions } from "./options.js";
import { tlsTransport } from "./transport.js";

/** Factory run inside the driver host (named in the DriverSpec); `options` are the spec's {@link TlsOptions}. */
export function createTlsDriver(ctx: DriverContext, options: unknown): Driver {
  return createStreamDriver(ctx, tlsTransport(resolveTlsOptions(options)));
}
