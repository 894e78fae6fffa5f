/**
 * The session handshake of docs/protocols/udp.md §3, as pure functions: what
 * a side puts in its HELLO / HELLO-OK, how an acceptor judges a HELLO (the
 * §3.1 compatibility table, PAIR exclusivity), what both sides then use
 * (reliable if either asks, the smaller datagram and window, expiry), and
 * when a connector resends its HELLO.
 */
import type { HelloCommand } from "./codec.js";
import { socketTypesCompatible, type SocketType } from "./socket-type.js";
import { DEFAULT_MAX_DATAGRAM, REFUSE, type RefuseCode } from "./wire-constants.js";

/** One side's settings, as announced in its HELLO (§2.1) plus local policy. */
export interface SessionConfig {
  socketType: SocketType;
  /** Ask for a reliable session (§3: reliable if either side asks). Default false. */
  reliable?: boolean;
  /** Largest datagram this side accepts and builds (default 1200). */
  maxDatagram?: number;
  /** R datagrams buffered out of order (default 256). */
  window?: number;
  /** Heartbeat interval, ms (default 1000; 0 = none). */
  heartbeat?: number;
  /** Silence after which the peer expires, ms (default 5000). */
  timeout?: number;
  /** ZMTP-style identity, 0..255 octets (default empty). */
  identity?: Uint8Array;
}

/** What a session runs with once HELLO and HELLO-OK have crossed. */
export interface NegotiatedSession {
  peerSocketType: SocketType;
  peerIdentity: Uint8Array;
  reliable: boolean;
  /** Datagram size both sides accept (min of the two). */
  maxDatagram: number;
  /** Send window: min of both windows. */
  window: number;
  /** Send a PING after this long without sending, ms (0 = never). */
  heartbeat: number;
  /** Expire the peer after this long without hearing from it: max(own timeout, 3 × peer heartbeat). */
  peerTimeout: number;
}

export type HelloVerdict = { ok: true; session: NegotiatedSession } | { ok: false; code: RefuseCode; reason: string };

export const DEFAULT_WINDOW = 256;
export const DEFAULT_HEARTBEAT = 1000;
export const DEFAULT_TIMEOUT = 5000;

/** The HELLO (connector) or HELLO-OK (acceptor) this side sends. */
export function helloFor(cfg: SessionConfig, type: "HELLO" | "HELLO_OK"): HelloCommand {
  return {
    type,
    socketType: cfg.socketType,
    reliable: cfg.reliable ?? false,
    maxDatagram: cfg.maxDatagram ?? DEFAULT_MAX_DATAGRAM,
    window: cfg.window ?? DEFAULT_WINDOW,
    heartbeat: cfg.heartbeat ?? DEFAULT_HEARTBEAT,
    identity: cfg.identity ?? new Uint8Array(0),
  };
}

/** §3: combine this side's settings with the peer's HELLO or HELLO-OK. */
export function negotiate(cfg: SessionConfig, peer: HelloCommand): NegotiatedSession {
  const own = helloFor(cfg, "HELLO");
  return {
    peerSocketType: peer.socketType,
    peerIdentity: peer.identity,
    reliable: own.reliable || peer.reliable,
    maxDatagram: Math.min(own.maxDatagram, peer.maxDatagram),
    window: Math.min(own.window, peer.window),
    heartbeat: own.heartbeat,
    peerTimeout: Math.max(cfg.timeout ?? DEFAULT_TIMEOUT, 3 * peer.heartbeat),
  };
}

/**
 * §3.1: an acceptor's verdict on a HELLO. `busy`: this acceptor is a PAIR
 * that already has a peer (PAIR is exclusive).
 */
export function judgeHello(cfg: SessionConfig, hello: HelloCommand, busy = false): HelloVerdict {
  if (!socketTypesCompatible(cfg.socketType, hello.socketType)) {
    return { ok: false, code: REFUSE.INCOMPATIBLE, reason: `${cfg.socketType} does not talk to ${hello.socketType}` };
  }
  if (busy && cfg.socketType === "PAIR") return { ok: false, code: REFUSE.BUSY, reason: "PAIR already has a peer" };
  return { ok: true, session: negotiate(cfg, hello) };
}

/**
 * §3: when a connector resends HELLO: `initial` ms after the first, doubling
 * up to `max` (defaults 100 and 1000, the prototype's 100 ms OHAI retry with
 * backoff so a dead server costs one datagram a second).
 */
export class HelloRetry {
  #initial: number;
  #max: number;
  #interval: number;
  #deadline = Infinity;

  constructor(initial = 100, max = 1000) {
    this.#initial = initial;
    this.#max = max;
    this.#interval = initial;
  }

  /** A HELLO was sent at `now`: returns when to send the next. */
  sent(now: number): number {
    this.#deadline = now + this.#interval;
    this.#interval = Math.min(this.#max, this.#interval * 2);
    return this.#deadline;
  }

  /** Handshake over (HELLO-OK or REFUSE): no more retries until {@link reset}. */
  stop(): void {
    this.#deadline = Infinity;
  }

  /** Start over (a new session attempt). */
  reset(): void {
    this.#interval = this.#initial;
    this.#deadline = Infinity;
  }

  /** When the next HELLO is due, Infinity if none. */
  get deadline(): number {
    return this.#deadline;
  }
}
