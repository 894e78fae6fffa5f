/**
 * One bind or connect of the udp:// driver: one `dgram` socket and the
 * sessions it carries (docs/protocols/udp.md).
 *
 * - **bind** (`udp://*:port`, `udp://[::]:port`, `udp://host:port`): one
 *   socket serves every peer; sessions are keyed by the source address and
 *   port. A HELLO from a new address is judged (§3.1) and, accepted, gets a
 *   bridge. A PROBE is answered with an OFFER (§7). Anything else from an
 *   unknown address is dropped, counted and answered REFUSE NO-SESSION, at
 *   most once a second per address (§3).
 * - **connect** (`udp://host:port`): a socket connected to the peer, one
 *   session at a time, one bridge for the endpoint's whole life; a session
 *   that ends is started again (new tag) after the reconnect interval,
 *   doubling while attempts fail.
 * - **discover** (`udp://*:port` connect): PROBEs broadcast every beacon
 *   interval; every server that OFFERs gets a session and a bridge; a server
 *   that vanishes expires (§3.2) and its bridge goes.
 *
 * The hot path is plain synchronous code: a datagram goes straight from the
 * socket's `message` event into its peer's engine and from there to the
 * bridge; app messages go from the bridge into the batcher and leave on the
 * bridge's flush. One timer per endpoint runs the engines' deadlines.
 */
import * as dgram from "node:dgram";
import { lookup as dnsLookup } from "node:dns";
import { isIP } from "node:net";
import type { Bridge, DriverContext, EndpointRequest } from "@vtx/runtime/driver-kit";
import { backoffDelay, formatEndpoint, VtxError } from "@vtx/runtime/driver-kit";
import { DecodeError, UDP_ERR } from "./codec-errors.js";
import { dispatchCommands, encodeControlDatagram, parseDatagram, type BeaconCommand, type HelloCommand } from "./codec.js";
import { defaultMaxDatagram, DEFAULT_LOOPBACK_MAX_DATAGRAM } from "./datagram-size.js";
import { answerProbe, probeDatagram } from "./discovery.js";
import { DropCounters } from "./drop-counters.js";
import type { NegotiatedSession } from "./handshake.js";
import { PeerLink, type LinkHost } from "./peer-link.js";
import { ReassemblyBudget } from "./reassembler.js";
import { socketTypesCompatible, type SocketType } from "./socket-type.js";
import type { PeerOptions } from "./udp-peer.js";
import type { ResolvedUdpOptions } from "./udp-options.js";
import { BEACON, REFUSE } from "./wire-constants.js";
import { defaultBroadcastAddresses } from "./broadcast-addresses.js";
import { EarliestTimer } from "../net/earliest-timer.js";

export type EndpointMode = "bind" | "connect" | "discover";

/** REFUSE NO-SESSION at most this often per address (§3). */
const REFUSE_INTERVAL = 1000;
/** Addresses remembered for that limit; past this the memory is cleared (bounded under a spoofed flood). */
const REFUSE_MEMORY = 4096;

/** Counted when a bound endpoint already serves `maxPeers` sessions. */
export const UDP_TOO_MANY_PEERS = "UDP_TOO_MANY_PEERS";
/** Counted when one source IP opens sessions faster than `maxSessionsPerSecond`. */
export const UDP_HELLO_RATE = "UDP_HELLO_RATE";
/** Counted: a datagram from an address with no session that is not a HELLO or a BEACON (§3). */
export const UDP_NO_SESSION = "UDP_NO_SESSION";

/** A random non-zero 32-bit session tag (§3). */
export function randomTag(): number {
  return ((Math.random() * 0xfffffffe) >>> 0) + 1;
}

/** dgram's address lookup, without a DNS round (and a tick) for the IP literals we always send to. */
function literalLookup(host: string, family: unknown, cb: (err: Error | null, address: string, family: number) => void): void {
  const f = isIP(host);
  if (f !== 0) cb(null, host, f);
  else dnsLookup(host, { family: typeof family === "number" ? family : 0 }, (err, address, fam) => cb(err, address, fam));
}

async function resolveHost(host: string): Promise<{ address: string; family: 4 | 6 }> {
  const f = isIP(host);
  if (f === 4 || f === 6) return { address: host, family: f };
  const { promises } = await import("node:dns");
  try {
    const r = await promises.lookup(host);
    return { address: r.address, family: r.family === 6 ? 6 : 4 };
  } catch (err) {
    throw new VtxError("VTX_HOST_UNKNOWN", `udp: cannot resolve "${host}": ${(err as Error).message}`, { cause: err });
  }
}

export class UdpEndpoint implements LinkHost {
  readonly mode: EndpointMode;
  readonly req: EndpointRequest;
  readonly opts: ResolvedUdpOptions;
  readonly drops: DropCounters;
  /** This endpoint's own tag: beacons and NO-SESSION refusals carry it. */
  readonly tag = randomTag();
  readonly #ctx: DriverContext;
  readonly #socketType: SocketType;
  readonly #budget: ReassemblyBudget;
  readonly #links = new Map<string, PeerLink>();
  #socket: dgram.Socket | null = null;
  #connected = false;
  #window: number;
  #closed = false;
  /** Retries, heartbeats, back-off: the earliest deadline asked for. */
  readonly #timer = new EarliestTimer(() => this.#onTimer());
  #untrack: () => void = () => undefined;
  #refused = new Map<string, number>();
  /** Sessions accepted per source IP in the current one-second window. */
  #accepts = new Map<string, { since: number; n: number }>();
  // connect mode
  #single: PeerLink | null = null;
  #singleBridge: Bridge | null = null;
  #attempt = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  // discover mode
  #probeTimer: NodeJS.Timeout | undefined;
  #broadcast: string[] = [];
  /** Server tag → address key: one session per server even if it answers on several addresses. */
  #serverTags = new Map<number, string>();
  #tagOfLink = new Map<PeerLink, number>();

  constructor(ctx: DriverContext, req: EndpointRequest, mode: EndpointMode, opts: ResolvedUdpOptions) {
    this.#ctx = ctx;
    this.req = req;
    this.mode = mode;
    this.opts = opts;
    this.#socketType = req.socketType;
    this.#budget = new ReassemblyBudget(opts.reassemblyBudget);
    this.#window = opts.window;
    this.drops = new DropCounters((e) => ctx.emit(e), req.id, opts.dropReportInterval);
  }

  // ---- opening -------------------------------------------------------------------

  /** Binds; resolves with the endpoint actually bound. */
  async bind(): Promise<string> {
    const { host, port } = this.req.endpoint;
    let address: string;
    let family: 4 | 6;
    if (host === "*" || host === "" || host === "0.0.0.0") [address, family] = ["0.0.0.0", 4];
    else if (host === "::") [address, family] = ["::", 6];
    else ({ address, family } = await resolveHost(host));
    const sock = await this.#open(family, address, port);
    this.#untrack = this.#ctx.track({ close: () => this.close() });
    const bound = sock.address().port;
    const ep = formatEndpoint(this.req.endpoint.scheme, host === "" ? "*" : host, bound);
    this.#ctx.emit({ type: "listening", id: this.req.id, peer: ep });
    return ep;
  }

  /** Connects (one peer) or starts discovery (`udp://*:port`). */
  async connect(): Promise<void> {
    const { host, port } = this.req.endpoint;
    if (port === 0) throw new VtxError("VTX_ENDPOINT_MALFORMED", `udp: connect to ${this.req.endpoint.raw} needs a port`);
    if (this.mode === "discover") {
      await this.#open(4, "0.0.0.0", 0);
      this.#untrack = this.#ctx.track({ close: () => this.close() });
      this.#socket?.setBroadcast(true);
      this.#broadcast = this.opts.broadcast ?? defaultBroadcastAddresses();
      // One bridge per server found, opened when its session comes up.
      const probe = probeDatagram(this.tag, this.#socketType);
      const send = (): void => {
        if (this.#closed) return;
        for (const to of this.#broadcast) this.#socket?.send(probe, port, to, () => undefined);
      };
      send();
      this.#probeTimer = setInterval(send, this.opts.beaconInterval);
      return;
    }
    const { address, family } = await resolveHost(host);
    const sock = await this.#open(family, family === 6 ? "::" : "0.0.0.0", 0);
    await new Promise<void>((resolve, reject) => {
      sock.once("connect", resolve);
      try {
        sock.connect(port, address);
      } catch (err) {
        reject(new VtxError("VTX_DIAL", `udp: connect ${this.req.endpoint.raw}: ${(err as Error).message}`));
      }
    });
    this.#connected = true;
    this.#untrack = this.#ctx.track({ close: () => this.close() });
    // One bridge for the endpoint's whole life: messages queue in libzmq while no session is up.
    this.#singleBridge = this.#ctx.openBridge(this.req, { peer: `udp://${host.includes(":") ? `[${host}]` : host}:${port}` });
    this.#single = new PeerLink(this, address, port, this.opts.maxDeliveryBacklog);
    this.#links.set(keyOf(address, port), this.#single);
    this.#single.connect(this.#peerOptions(address), performance.now());
  }

  #open(family: 4 | 6, address: string, port: number): Promise<dgram.Socket> {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket({ type: family === 6 ? "udp6" : "udp4", lookup: literalLookup });
      const onError = (err: NodeJS.ErrnoException): void => {
        sock.close();
        reject(new VtxError(err.code === "EADDRINUSE" ? "VTX_ADDRESS_IN_USE" : "VTX_LISTEN", `udp: bind ${address}:${port}: ${err.message}`));
      };
      sock.once("error", onError);
      sock.bind(port, address, () => {
        sock.off("error", onError);
        // ICMP errors on a connected socket (ECONNREFUSED while the server is
        // down) surface here; the HELLO retry carries on regardless.
        sock.on("error", (err: NodeJS.ErrnoException) => this.#socketError(err));
        sock.on("message", this.#onMessage);
        this.#sizeBuffers(sock);
        this.#socket = sock;
        resolve(sock);
      });
    });
  }

  /**
   * ICMP errors reach a connected socket as errors on a later send or
   * receive. Port unreachable while a session is up means the peer's
   * process is gone (as a TCP RST would say): end the session now, the
   * reconnect schedule takes over. Anything else is counted.
   */
  #socketError(err: NodeJS.ErrnoException): void {
    const code = err.code ?? "ERROR";
    const single = this.#single;
    if (code === "ECONNREFUSED" && this.#connected) {
      // Expected while the server is down and HELLOs are retried: not a drop.
      if (single?.isUp === true) single.fail({ code: UDP_ERR.PEER_UNREACHABLE, message: "ICMP port unreachable: the peer is gone" }, performance.now());
      return;
    }
    this.drops.count(`UDP_SOCKET_${code}`, this.req.endpoint.raw);
  }

  /**
   * §5: SO_RCVBUF of at least window × max datagram, or a smaller window
   * announced: datagrams the kernel drops for want of buffer are
   * retransmitted, at a cost. Linux reports twice what was granted
   * (bookkeeping overhead included), so half of it is payload room.
   */
  #sizeBuffers(sock: dgram.Socket): void {
    try {
      if (this.opts.recvBufferSize > 0) sock.setRecvBufferSize(this.opts.recvBufferSize);
      if (this.opts.sendBufferSize > 0) sock.setSendBufferSize(this.opts.sendBufferSize);
    } catch {
      // Capped or refused: the window below adapts.
    }
    let granted = 0;
    try {
      granted = sock.getRecvBufferSize();
    } catch {
      granted = 0;
    }
    const dg = this.opts.maxDatagram ?? DEFAULT_LOOPBACK_MAX_DATAGRAM;
    if (granted > 0) this.#window = Math.min(this.opts.window, Math.max(8, Math.floor(granted / 2 / dg)));
  }

  #peerOptions(address: string): PeerOptions {
    const o = this.opts;
    return {
      tag: randomTag(),
      socketType: this.#socketType,
      reliable: o.reliable,
      maxDatagram: o.maxDatagram ?? defaultMaxDatagram(address),
      window: this.#window,
      heartbeat: o.heartbeat,
      timeout: o.timeout,
      identity: o.identity,
      maxMessageSize: o.maxMessageSize,
      maxInFlight: o.maxInFlight,
      // §4: in a reliable session fragments arrive in order and may wait behind RTO backoff.
      reassemblyTimeout: o.reliable ? Infinity : o.reassemblyTimeout,
      budget: this.#budget,
      helloInitial: o.reconnectInterval,
      helloMax: Math.max(o.reconnectInterval, Math.min(o.reconnectIntervalMax, 1000)),
    };
  }

  // ---- receiving -----------------------------------------------------------------

  readonly #onMessage = (dg: Buffer, rinfo: dgram.RemoteInfo): void => {
    const now = performance.now();
    const single = this.#single;
    if (this.#connected) {
      // The kernel only passes datagrams from the connected peer.
      single?.receive(dg, now);
      return;
    }
    const key = keyOf(rinfo.address, rinfo.port);
    const link = this.#links.get(key);
    if (link !== undefined) {
      link.receive(dg, now);
      // §3: a HELLO under a new tag ended the old session: accept the restarted peer from the same datagram.
      if (link.closed || link.peer?.state === "closed") {
        if (link.lastDown === UDP_ERR.PEER_RESTARTED && this.mode === "bind") this.#unknown(dg, rinfo.address, rinfo.port, key, now);
      }
      return;
    }
    this.#unknown(dg, rinfo.address, rinfo.port, key, now);
  };

  /** A datagram from an address with no session. */
  #unknown(dg: Buffer, address: string, port: number, key: string, now: number): void {
    const name = displayName(address, port);
    let hello: HelloCommand | undefined;
    let beacon: BeaconCommand | undefined;
    let ending = false;
    let session: number;
    try {
      const header = parseDatagram(dg, { maxMessageSize: this.opts.maxMessageSize });
      session = header.session;
      dispatchCommands(dg, header.bodyOffset, {
        message() {},
        fragment() {},
        control(cmd) {
          if (cmd.type === "HELLO") hello ??= cmd;
          else if (cmd.type === "BEACON") beacon ??= cmd;
          else if (cmd.type === "REFUSE" || cmd.type === "BYE") ending = true;
        },
      });
    } catch (err) {
      this.drops.count(err instanceof DecodeError || err instanceof VtxError ? err.code : UDP_ERR.BAD_LENGTH, name);
      return;
    }
    if (beacon !== undefined) {
      if (this.mode === "bind" && beacon.kind === BEACON.PROBE) {
        const offer = answerProbe(dg, this.tag, this.#socketType);
        if (offer !== undefined) this.transmit(offer, port, address);
      } else if (this.mode === "discover" && beacon.kind === BEACON.OFFER && socketTypesCompatible(this.#socketType, beacon.socketType)) {
        this.#discovered(address, port, key, session, now);
      }
      return;
    }
    if (hello !== undefined && this.mode === "bind") {
      this.#accept(dg, address, port, key, now);
      return;
    }
    this.drops.count(UDP_NO_SESSION, name);
    // Never answer a REFUSE or a BYE: two sides that both forgot the session would refuse each other forever.
    if (!ending) this.#refuseNoSession(session, address, port, now);
  }

  #refuseNoSession(refusedTag: number, address: string, port: number, now: number): void {
    const key = keyOf(address, port);
    const last = this.#refused.get(key);
    if (last !== undefined && now - last < REFUSE_INTERVAL) return;
    if (this.#refused.size >= REFUSE_MEMORY) this.#refused.clear();
    this.#refused.set(key, now);
    const dg = encodeControlDatagram(this.tag, 0, [{ type: "REFUSE", code: REFUSE.NO_SESSION, refusedTag, reason: "no session" }]);
    this.transmit(dg, port, address);
  }

  #accept(dg: Buffer, address: string, port: number, key: string, now: number): void {
    if (this.#links.size >= this.opts.maxPeers) {
      this.drops.count(UDP_TOO_MANY_PEERS, displayName(address, port));
      return;
    }
    // Per source IP, not address:port: fresh ports are as cheap to a flooder as fresh tags.
    let rate = this.#accepts.get(address);
    if (rate === undefined || now - rate.since >= 1000) {
      if (rate === undefined && this.#accepts.size >= REFUSE_MEMORY) this.#accepts.clear();
      rate = { since: now, n: 0 };
      this.#accepts.set(address, rate);
    }
    if (++rate.n > this.opts.maxSessionsPerSecond) {
      this.drops.count(UDP_HELLO_RATE, displayName(address, port));
      return;
    }
    let busy = false;
    if (this.#socketType === "PAIR") for (const l of this.#links.values()) if (l.isUp) busy = true;
    const link = new PeerLink(this, address, port, this.opts.maxDeliveryBacklog);
    this.#links.set(key, link);
    if (!link.accept(this.#peerOptions(address), dg, now, busy)) {
      if (this.#links.get(key) === link) this.#links.delete(key);
      if (!link.isUp && link.peer === null) {
        // Refused (REFUSE already sent) or malformed (counted): tell the app about a refusal.
        if (busy || hasIncompatibleHello(dg, this.#socketType)) {
          this.#ctx.emit({
            type: "handshake-failed",
            id: this.req.id,
            peer: `udp://${link.name}`,
            error: { code: UDP_ERR.REFUSED, message: busy ? "PAIR already has a peer" : "incompatible socket type" },
          });
        }
      }
    }
  }

  #discovered(address: string, port: number, key: string, serverTag: number, now: number): void {
    if (this.#serverTags.has(serverTag)) return;
    const link = new PeerLink(this, address, port, this.opts.maxDeliveryBacklog);
    this.#links.set(key, link);
    this.#serverTags.set(serverTag, key);
    this.#tagOfLink.set(link, serverTag);
    link.handshakeDeadline = now + this.opts.discoveryHandshakeTimeout;
    link.connect(this.#peerOptions(address), now);
    this.schedule(link.handshakeDeadline);
  }

  // ---- LinkHost ------------------------------------------------------------------

  transmit(datagram: Uint8Array, port: number, address: string): void {
    const sock = this.#socket;
    if (sock === null || this.#closed) return;
    if (this.#connected) sock.send(datagram);
    else sock.send(datagram, port, address);
  }

  /** Closing stops the timer: a deadline asked for afterwards is ignored. */
  schedule(deadline: number): void {
    this.#timer.schedule(deadline);
  }

  dropped(code: string, peer: string): void {
    this.drops.count(code, peer);
  }

  up(link: PeerLink, session: NegotiatedSession): Bridge | null {
    if (this.#closed) return null;
    link.handshakeDeadline = Infinity;
    let bridge: Bridge;
    if (this.mode === "connect" && this.#singleBridge !== null) {
      bridge = this.#singleBridge;
      this.#attempt = 0;
    } else {
      bridge = this.#ctx.openBridge(this.req, {
        routingId: session.peerIdentity.length > 0 ? Buffer.from(session.peerIdentity) : undefined,
        peer: `udp://${link.name}`,
      });
    }
    this.#ctx.emit({ type: "connected", id: this.req.id, peer: `udp://${link.name}` });
    return bridge;
  }

  down(link: PeerLink, error: { code: string; message: string }, wasUp: boolean): void {
    const peer = `udp://${link.name}`;
    this.#ctx.emit({ type: wasUp ? "disconnected" : "handshake-failed", id: this.req.id, peer, error: { code: error.code, message: error.message } });
    if (this.mode === "connect") {
      link.reset();
      if (this.#closed) return;
      const delay = backoffDelay(this.#attempt++, this.opts.reconnectInterval, this.opts.reconnectIntervalMax);
      this.#restartTimer = setTimeout(() => {
        this.#restartTimer = undefined;
        if (!this.#closed && this.#single === link) link.connect(this.#peerOptions(link.address), performance.now());
      }, delay);
      return;
    }
    this.#forget(link);
  }

  /** Drop a link that ended (accept side, discovered): its bridge goes. */
  #forget(link: PeerLink): void {
    const key = keyOf(link.address, link.port);
    if (this.#links.get(key) === link) this.#links.delete(key);
    const tag = this.#tagOfLink.get(link);
    if (tag !== undefined) {
      this.#tagOfLink.delete(link);
      if (this.#serverTags.get(tag) === key) this.#serverTags.delete(tag);
    }
    const b = link.bridge;
    link.bridge = null;
    if (b !== null) this.#ctx.closeBridge(this.req, b);
  }

  /** Runs due deadlines (never after close: the timer is stopped then). */
  #onTimer(): void {
    const now = performance.now();
    let next = Infinity;
    for (const link of this.#links.values()) {
      if (link.handshakeDeadline <= now && !link.isUp) {
        // Discovery: a server that offered but never completed the handshake is forgotten; a later OFFER finds it again.
        link.close(now);
        this.#forget(link);
        continue;
      }
      const d = link.poll(now);
      if (d < next) next = d;
    }
    if (next < Infinity) this.schedule(next);
  }

  // ---- closing -------------------------------------------------------------------

  /** Keeps sending what the app had queued for up to `linger` ms (−1: until `signal`), then closes. */
  async drain(linger: number, signal: AbortSignal): Promise<void> {
    if (linger === 0) return;
    const deadline = linger < 0 ? Infinity : performance.now() + linger;
    // Bounded: at most one check per 2 ms until the deadline or the driver stops.
    for (let i = 0; i < 1_000_000 && !signal.aborted && performance.now() < deadline; i++) {
      let idle = true;
      for (const link of this.#links.values()) if (!link.idle) idle = false;
      if (idle) return;
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /**
   * Ends every session and closes the socket and bridges. Each live peer
   * gets a BYE (§3), also when the driver crashed: the socket still works,
   * and the peer learns at once instead of after its heartbeat timeout.
   */
  close(): void {
    if (this.#closed) return;
    const now = performance.now();
    for (const link of [...this.#links.values()]) {
      link.close(now);
      const b = link.bridge;
      link.bridge = null;
      if (b !== null && b !== this.#singleBridge) this.#ctx.closeBridge(this.req, b);
    }
    if (this.#singleBridge !== null) this.#ctx.closeBridge(this.req, this.#singleBridge);
    this.#singleBridge = null;
    this.#closed = true;
    this.#links.clear();
    this.#timer.stop();
    if (this.#restartTimer !== undefined) clearTimeout(this.#restartTimer);
    if (this.#probeTimer !== undefined) clearInterval(this.#probeTimer);
    this.drops.close();
    this.#untrack();
    try {
      this.#socket?.close();
    } catch {
      // Already closed.
    }
    this.#socket = null;
  }

  /** Live sessions (for tests and stats). */
  get sessions(): number {
    let n = 0;
    for (const l of this.#links.values()) if (l.isUp) n++;
    return n;
  }
}

function keyOf(address: string, port: number): string {
  return `${address}|${port}`;
}

function displayName(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

function hasIncompatibleHello(dg: Uint8Array, own: SocketType): boolean {
  let bad = false;
  try {
    dispatchCommands(dg, parseDatagram(dg).bodyOffset, {
      message() {},
      fragment() {},
      control(cmd) {
        if (cmd.type === "HELLO" && !socketTypesCompatible(own, cmd.socketType)) bad = true;
      },
    });
  } catch {
    return false;
  }
  return bad;
}
