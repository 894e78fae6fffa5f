/**
 * What a driver module needs from the runtime, and nothing else:
 * `import { createStreamDriver, VtxError } from "@vtx/runtime/driver-kit"`.
 *
 * Driver modules run in the pool's worker threads. Importing the full
 * `@vtx/runtime` index there would load the manager, the supervisor and
 * CURVE's crypto libraries into every worker; each of those is heap that
 * every full GC of the worker has to walk, and workers moving big messages
 * run a full GC for about every 64 MB they move. Keep this entry lean:
 * the stream driver loads CURVE itself when a bind or connect asks for it.
 */
export { VtxError, DecodeError, toWireError, fromWireError, isVtxError, type WireError } from "./errors.js";
export { parseEndpoint, formatEndpoint, isWildcardHost, schemeOf, type Endpoint } from "./endpoint.js";
export type { Bridge, BridgeSink } from "./bridge.js";
export type { Driver, DriverContext, DriverFactory, DriverSpec, Closable } from "./driver.js";
export type { EndpointRequest, LinkOptions, HostEvent, VtxEventType } from "./control.js";
export { createStreamDriver, type StreamTransport } from "./stream/stream-driver.js";
export { backoffDelay } from "./stream/backoff.js";
