import type { Driver, DriverContext } from "@vtx/runtime/driver-kit";
import { createStreamDriver } from "@vtx/runtime/driver-kit";
import { tcpTransport } from "./transport.js";

/** Factory run inside the driver host (named in the DriverSpec). */
export function createZtcpDriver(ctx: DriverContext): Driver {
  return createStreamDriver(ctx, tcpTransport);
}
