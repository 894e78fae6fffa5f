export { Vtx, DEFAULT_LINK_OPTIONS, type VtxOptions, type VtxEvent } from "./vtx.js";
export { VtxError, DecodeError, toWireError, fromWireError, isVtxError, type WireError } from "./errors.js";
export {
  parseEndpoint,
  formatEndpoint,
  isWildcardHost,
  schemeOf,
  ENDPOINT_MALFORMED,
  ENDPOINT_PORT_RANGE,
  SCHEME_UNKNOWN,
  type Endpoint,
} from "./endpoint.js";
export { Mailbox, MAILBOX_CODEC_VERSION, encodeMail, decodeMail } from "./mailbox.js";
export { Bridge, randomRoutingId, type BridgeSink } from "./bridge.js";
export { bridgePlan, createSocket, socketTypeOf, SOCKET_TYPE_NAMES, type SocketTypeName, type SocketClassMap, type AnySocket, type BridgePlan } from "./socket-types.js";
export type { Driver, DriverContext, DriverFactory, DriverSpec, Closable } from "./driver.js";
export type { EndpointRequest, LinkOptions, HostEvent, VtxEventType } from "./control.js";
export { createStreamDriver, type StreamTransport } from "./stream/stream-driver.js";
export { ZmtpLink } from "./stream/zmtp-link.js";
export { sessionMachine, type SessionPort } from "./stream/session-machine.js";
export { backoffDelay } from "./stream/backoff.js";
export * from "./supervisor/index.js";
export * as zmtp from "./zmtp/index.js";
export { primeMallocForStreaming } from "./malloc-tuning.js";
