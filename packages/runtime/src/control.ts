/**
 * The control protocol between the Vtx manager (application thread) and a
 * driver task (worker thread), carried by a {@link Mailbox}. Plain data only:
 * it is JSON-encoded, versioned by the mailbox codec.
 */
import type { WireError } from "./errors.js";
import type { Endpoint } from "./endpoint.js";
import type { SocketTypeName } from "./socket-types.js";

/** Options that apply to one bind or connect (derived from the app socket's
 *  zeromq.js options, overridable per call). All times in ms. */
export interface LinkOptions {
  /** ZMTP PING interval; 0 disables heartbeats. */
  heartbeatInterval: number;
  /** A peer silent for this long after a PING is dropped. */
  heartbeatTimeout: number;
  /** TTL announced in PINGs (ms, rounded to deciseconds on the wire). */
  heartbeatTtl: number;
  /** First reconnect delay; doubles (with ±25 % jitter) up to the max. */
  reconnectInterval: number;
  reconnectIntervalMax: number;
  /** A handshake not finished within this is dropped (ZMTP_HANDSHAKE_TIMEOUT). */
  handshakeTimeout: number;
  /**
   * On disconnect/unbind/close, how long a live link keeps sending what the
   * app had queued before it is cut (ms; -1 = until the driver stops; 0 = at
   * once). From the socket's ZMQ_LINGER.
   */
  linger: number;
  /** Largest multipart message accepted from the peer; -1 = unlimited. */
  maxMessageSize: number;
  /** Identity announced in READY (routing id of the app socket). */
  identity?: string | undefined;
  /** PLAIN: as client {username,password}; as server `plainServer`. */
  plainUsername?: string | undefined;
  plainPassword?: string | undefined;
  plainServer?: boolean | undefined;
  /**
   * CURVE (RFC 25/26), keys as 40-character Z85 (`zmq.curveKeyPair()`). A
   * server sets `curveServer` and `curveSecretKey` (`curvePublicKey` is
   * derived, checked when given); a client sets `curveServerKey` and
   * normally its own pair (generated per link when omitted).
   */
  curveServer?: boolean | undefined;
  curvePublicKey?: string | undefined;
  curveSecretKey?: string | undefined;
  curveServerKey?: string | undefined;
  /** CURVE server: the client public keys (Z85) allowed in; every client with a valid handshake when absent. */
  curveAllow?: string[] | undefined;
  /**
   * Multicast settings of the app socket (zeromq.js `rate`,
   * `recoveryInterval`, `multicastHops`, `multicastMaxTransportDataUnit`:
   * ZMQ_RATE, ZMQ_RECOVERY_IVL, ZMQ_MULTICAST_HOPS, ZMQ_MULTICAST_MAXTPDU),
   * only those set away from libzmq's defaults. Used by epgm://.
   */
  multicast?: { rate?: number; recoveryInterval?: number; hops?: number; maxTpdu?: number } | undefined;
  /** Driver-specific options (TLS keys, proxy, ...): serialisable data. */
  driver?: Record<string, unknown> | undefined;
}

export interface EndpointRequest {
  /** Manager-assigned id of this bind/connect. */
  readonly id: string;
  readonly endpoint: Endpoint;
  readonly socketType: SocketTypeName;
  /** The app socket's inproc endpoint, which every bridge connects to. */
  readonly appInproc: string;
  readonly options: LinkOptions;
}

export type ManagerToHost =
  | { t: "bind"; ref: number; req: EndpointRequest }
  | { t: "connect"; ref: number; req: EndpointRequest }
  | { t: "unbind"; ref: number; id: string }
  | { t: "disconnect"; ref: number; id: string }
  | { t: "auth-reply"; ref: number; ok: boolean }
  | { t: "stop" }
  /** Close the driver's resources at once, without asking the driver. */
  | { t: "kill" }
  /** Test and chaos hook: make the driver crash the way a buggy driver would. */
  | { t: "crash"; how: "throw" | "exit" | "reject" };

export type VtxEventType =
  | "listening"
  | "connected"
  | "disconnected"
  | "handshake-failed"
  | "peer-error"
  | "driver-crashed"
  | "driver-restarted"
  | "driver-stopped";

export interface HostEvent {
  type: VtxEventType;
  /** The bind/connect this concerns. */
  id?: string | undefined;
  /** Remote address (host:port) when known. */
  peer?: string | undefined;
  error?: WireError | undefined;
}

export type HostToManager =
  | { t: "ready" }
  | { t: "reply"; ref: number; ok: true; endpoint?: string }
  | { t: "reply"; ref: number; ok: false; error: WireError }
  | { t: "auth"; ref: number; id: string; mechanism: "PLAIN"; username: string; password: string; peer?: string | undefined }
  | { t: "event"; event: HostEvent };
