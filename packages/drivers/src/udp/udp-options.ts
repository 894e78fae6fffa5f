/**
 * Options of the udp:// driver (documented in docs/protocols/udp.md §10).
 * They come from three places, later ones winning: the spec (`udp(options)`),
 * the endpoint's {@link LinkOptions} (heartbeat, reconnect, max message size,
 * identity: the app socket's zeromq.js options), and per-call
 * `LinkOptions.driver` (e.g. `vtx.bind(s, "udp://*:5670", { driver: { reliable: true } })`).
 */
import type { LinkOptions } from "@vtx/runtime/driver-kit";
import { VtxError } from "@vtx/runtime/driver-kit";
import { DEFAULT_WINDOW } from "./handshake.js";
import { DEFAULT_MAX_MESSAGE, MAX_MAX_DATAGRAM, MAX_MESSAGE, MIN_MAX_DATAGRAM } from "./wire-constants.js";

export interface UdpOptions {
  /**
   * Reliable mode (§5): acknowledgements, retransmission, in-order delivery,
   * duplicate suppression, and flow control reaching the app socket's HWM.
   * A session is reliable if either side asks. Default false (plain mode:
   * a message arrives whole or not at all, at most once).
   */
  reliable?: boolean;
  /**
   * Largest datagram built or accepted, 512..65507 (§1). Default 1200, or
   * 16384 when the endpoint's address is a loopback one.
   */
  maxDatagram?: number;
  /** Reliable datagrams in flight / buffered out of order (§5). Default 256. */
  window?: number;
  /**
   * SO_RCVBUF to ask for, octets (§5: at least window × max datagram).
   * Default 4 MiB; the kernel caps it at net.core.rmem_max, and the window
   * announced is shrunk to what the buffer actually granted holds.
   */
  recvBufferSize?: number;
  /** SO_SNDBUF to ask for, octets. Default 4 MiB (capped by net.core.wmem_max). */
  sendBufferSize?: number;
  /** Discovery (§7): how often a `udp://*:port` connect broadcasts a PROBE, ms. Default 1000. */
  beaconInterval?: number;
  /**
   * Discovery: where PROBEs go (IPv4 addresses). Default: the directed
   * broadcast address of every IPv4 interface that has one, and
   * 255.255.255.255.
   */
  broadcast?: string | string[];
  /**
   * Discovery: a found server whose handshake does not complete within this
   * is forgotten (a later OFFER finds it again), ms. Default: the heartbeat
   * timeout.
   */
  discoveryHandshakeTimeout?: number;
  /** Sessions one bound endpoint serves at most; HELLOs beyond are dropped and counted. Default 1024. */
  maxPeers?: number;
  /**
   * New sessions a bound endpoint accepts per source IP address per second
   * (a restarted peer's HELLO counts as one); HELLOs beyond are dropped and
   * counted (`UDP_HELLO_RATE`), so one source flooding HELLOs under fresh
   * tags or ports cannot make the driver open and close bridges for it all
   * day. Default 20.
   */
  maxSessionsPerSecond?: number;
  /** Reassembly (§4): partial messages per peer. Default 8. */
  maxInFlight?: number;
  /** Reassembly: a plain-mode partial message with no new fragment for this long is dropped, ms. Default 1000. */
  reassemblyTimeout?: number;
  /** Reassembly: octets of partial messages for all peers of one socket. Default 64 MiB. */
  reassemblyBudget?: number;
  /** Plain mode: messages queued for a slow application before new ones are dropped (counted). Default 10000. */
  maxDeliveryBacklog?: number;
  /**
   * Heartbeat interval (§3.2), ms; 0 = none. Default: the link's
   * `heartbeatInterval` (the socket's ZMQ_HEARTBEAT_IVL, else vtx's 5000).
   * Given here, it wins over the link's: UDP has no connection whose loss the
   * kernel reports, so heartbeats are how a vanished peer is noticed.
   */
  heartbeatInterval?: number;
  /** Silence after which a peer expires, ms. Default: the link's `heartbeatTimeout`; given here, it wins. */
  heartbeatTimeout?: number;
  /** How often dropped-datagram counters are reported as `peer-error` events, ms. Default 1000. */
  dropReportInterval?: number;
}

/** Everything an endpoint runs with, resolved. */
export interface ResolvedUdpOptions {
  reliable: boolean;
  /** undefined: pick by address (1200, or 16384 toward loopback). */
  maxDatagram: number | undefined;
  window: number;
  recvBufferSize: number;
  sendBufferSize: number;
  beaconInterval: number;
  broadcast: string[] | undefined;
  discoveryHandshakeTimeout: number;
  maxPeers: number;
  maxSessionsPerSecond: number;
  maxInFlight: number;
  reassemblyTimeout: number;
  reassemblyBudget: number;
  maxDeliveryBacklog: number;
  dropReportInterval: number;
  /** From LinkOptions. */
  heartbeat: number;
  timeout: number;
  reconnectInterval: number;
  reconnectIntervalMax: number;
  maxMessageSize: number;
  linger: number;
  identity: Uint8Array | undefined;
}

const KEYS: ReadonlySet<string> = new Set([
  "reliable",
  "maxDatagram",
  "window",
  "recvBufferSize",
  "sendBufferSize",
  "beaconInterval",
  "broadcast",
  "discoveryHandshakeTimeout",
  "maxPeers",
  "maxSessionsPerSecond",
  "maxInFlight",
  "reassemblyTimeout",
  "reassemblyBudget",
  "maxDeliveryBacklog",
  "dropReportInterval",
  "heartbeatInterval",
  "heartbeatTimeout",
]);

function bad(message: string): never {
  throw new VtxError("UDP_BAD_OPTION", message);
}

function num(o: Record<string, unknown>, k: string, min: number, max: number, dflt: number): number {
  const v = o[k];
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) bad(`udp option ${k} must be a number in ${min}..${max}, got ${JSON.stringify(v)}`);
  return v;
}

/** Merges spec options, link options and per-call driver options; throws UDP_BAD_OPTION. */
export function resolveOptions(spec: unknown, link: LinkOptions): ResolvedUdpOptions {
  const merged: Record<string, unknown> = {};
  for (const src of [spec, link.driver]) {
    if (src === undefined || src === null) continue;
    if (typeof src !== "object") bad("udp options must be an object");
    for (const [k, v] of Object.entries(src)) {
      if (!KEYS.has(k)) bad(`unknown udp option "${k}"`);
      merged[k] = v;
    }
  }
  const reliable = merged.reliable ?? false;
  if (typeof reliable !== "boolean") bad("udp option reliable must be a boolean");
  const md = merged.maxDatagram === undefined ? undefined : num(merged, "maxDatagram", MIN_MAX_DATAGRAM, MAX_MAX_DATAGRAM, 0);
  if (md !== undefined && !Number.isInteger(md)) bad("udp option maxDatagram must be an integer");
  let broadcast: string[] | undefined;
  if (merged.broadcast !== undefined) {
    const b = merged.broadcast;
    broadcast = typeof b === "string" ? [b] : Array.isArray(b) && b.every((x) => typeof x === "string") ? b : bad("udp option broadcast must be a string or string[]");
  }
  const heartbeat = num(merged, "heartbeatInterval", 0, 3_600_000, Math.max(0, link.heartbeatInterval));
  const timeout = heartbeat === 0 ? Infinity : num(merged, "heartbeatTimeout", 1, 3_600_000, Math.max(link.heartbeatTimeout, 1));
  const mms = link.maxMessageSize < 0 ? DEFAULT_MAX_MESSAGE : Math.min(link.maxMessageSize, MAX_MESSAGE);
  return {
    reliable,
    maxDatagram: md,
    window: Math.floor(num(merged, "window", 1, 0xffff, DEFAULT_WINDOW)),
    recvBufferSize: num(merged, "recvBufferSize", 0, 1 << 30, 4 << 20),
    sendBufferSize: num(merged, "sendBufferSize", 0, 1 << 30, 4 << 20),
    beaconInterval: num(merged, "beaconInterval", 10, 3_600_000, 1000),
    broadcast,
    discoveryHandshakeTimeout: num(merged, "discoveryHandshakeTimeout", 1, 3_600_000, Number.isFinite(timeout) ? timeout : 5000),
    maxPeers: num(merged, "maxPeers", 1, 1 << 20, 1024),
    maxSessionsPerSecond: num(merged, "maxSessionsPerSecond", 1, 1 << 20, 20),
    maxInFlight: num(merged, "maxInFlight", 1, 1 << 16, 8),
    reassemblyTimeout: num(merged, "reassemblyTimeout", 1, 3_600_000, 1000),
    reassemblyBudget: num(merged, "reassemblyBudget", 0, 2 ** 40, 64 << 20),
    maxDeliveryBacklog: num(merged, "maxDeliveryBacklog", 1, 1 << 30, 10_000),
    dropReportInterval: num(merged, "dropReportInterval", 1, 3_600_000, 1000),
    heartbeat,
    timeout,
    reconnectInterval: Math.max(1, link.reconnectInterval),
    reconnectIntervalMax: Math.max(link.reconnectInterval, link.reconnectIntervalMax),
    maxMessageSize: mms,
    linger: link.linger,
    identity: link.identity === undefined || link.identity === "" ? undefined : Buffer.from(link.identity, "latin1"),
  };
}
