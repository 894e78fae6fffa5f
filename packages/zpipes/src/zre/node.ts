/**
 * A ZRE node (ZeroMQ RFC 36, protocol version 2) on zeromq.js sockets.
 *
 * RFC 36 "Interconnection Model": one ROUTER bound on an ephemeral TCP port
 * receives everything from every peer; one DEALER per peer, with routing id
 * %x01 + our UUID, sends to that peer and never receives. The first command
 * on a DEALER is HELLO; peers count messages per link with a 16-bit sequence
 * (HELLO = 1) and a gap means lost messages.
 *
 * Discovery is either RFC 36 UDP beacons (port 5670 by default) or "gossip":
 * a list of peer endpoints dialled directly, with no UDP at all. A dialled
 * endpoint's UUID is unknown until its HELLO comes back, so the DEALER opened
 * for it waits as a "pending link" and is adopted by the peer whose HELLO
 * advertises that endpoint.
 */
import { randomUUID } from "node:crypto";
import * as dgram from "node:dgram";
import { networkInterfaces } from "node:os";
import * as zmq from "zeromq";
import { VtxError } from "@vtx/runtime/errors";
import { LateTicks } from "@vtx/runtime/stream/silence-watch";
import { decodeBeacon, encodeBeacon } from "./beacon-codec.js";
import { decodeRoutingId, decodeZre, encodeRoutingId, encodeWhisper, encodeZre, type ZreHello, type ZreMessage } from "./codec.js";
import type { ZreEvent, ZreExitReason, ZreLogRecord } from "./events.js";
import { DirectDealer } from "../transport/direct-dealer.js";
import { DirectRouter } from "../transport/direct-router.js";

/** RFC 36 says nodes listen for beacons on UDP port 5670. */
export const ZRE_DISCOVERY_PORT = 5670;

export interface ZreBeaconOptions {
  /** UDP port beacons are sent to and received on. Default 5670. */
  port?: number;
  /**
   * Where beacons are sent. Default `255.255.255.255`. On one host,
   * `127.255.255.255` reaches every node whose beacon socket is bound to it.
   */
  broadcast?: string;
  /** Address the receiving socket binds (shared with SO_REUSEADDR). Default `0.0.0.0`. */
  bind?: string;
  /** Interval between beacons. Default 1000 ms (Zyre's). */
  intervalMs?: number;
}

export interface ZreNodeOptions {
  /** Public name sent in HELLO. Default: the first 6 hex digits of the UUID. */
  name?: string;
  /** Headers sent in HELLO (RFC 36 `headers` dictionary). */
  headers?: Record<string, string>;
  /** 16-byte UUID; default random (v4). */
  uuid?: Uint8Array;
  /** Interface address the ROUTER binds. Default `127.0.0.1`. `0.0.0.0` binds all. */
  host?: string;
  /** Host advertised in HELLO. Default `host`, or the first external IPv4 when `host` is `0.0.0.0`. */
  advertise?: string;
  /** ROUTER port; 0 (default) picks an ephemeral one. */
  port?: number;
  /** UDP beacon discovery; `false` turns it off. Default on unless `gossip` is given. */
  beacon?: ZreBeaconOptions | false;
  /** Gossip mode: endpoints (`tcp://host:port`) of nodes to dial directly. */
  gossip?: string[];
  /** Silence after which a peer is sent PING and reported EVASIVE. Default 5000 ms. */
  evasiveMs?: number;
  /** Silence after which a peer is dropped (EXIT). Default 30000 ms. */
  expiredMs?: number;
  /** Per-peer DEALER send high-water mark in messages. Default 1000. */
  sendHighWaterMark?: number;
  /**
   * Speak ZMTP to peers from this thread, without libzmq (default true):
   * the ROUTER and the per-peer DEALERs are the broker's own (see
   * `src/transport/`), same bytes on the wire, so zyre and libzmq peers
   * still talk to it. false: zeromq.js sockets.
   */
  direct?: boolean;
  /** Structured log sink. Default: none. */
  log?: (rec: ZreLogRecord) => void;
}

/** A peer as the application sees it. */
export interface ZrePeerInfo {
  peer: string;
  name: string;
  endpoint: string;
  headers: Readonly<Record<string, string>>;
  groups: readonly string[];
}

interface Outgoing {
  frames: Uint8Array[];
  settle: ((err?: VtxError) => void) | undefined;
}

interface Link {
  endpoint: string;
  /** The libzmq DEALER, or null when the link is direct. */
  dealer: zmq.Dealer | null;
  direct: DirectDealer | null;
  sent: number;
  /** Messages waiting for the DEALER (zeromq.js takes one send at a time). */
  queue: Outgoing[];
  head: number;
  flushing: boolean;
  /** Called when the queue has been handed to zeromq.js (see {@link ZreNode.stop}). */
  idle: (() => void)[];
  closed: boolean;
}

interface Peer {
  id: string;
  uuid: Uint8Array;
  link: Link;
  ready: boolean;
  want: number;
  name: string;
  headers: Record<string, string>;
  groups: Set<string>;
  status: number;
  lastSeen: number;
  evasive: boolean;
  lastPing: number;
}

export type ZreListener = (ev: ZreEvent) => void;

/**
 * How long a stopping node keeps writing to a peer that is slow to read:
 * its last messages (DROP WRITER behind a window of DATA) must reach it.
 */
const STOP_LINGER_MS = 3000;

const hexId = (uuid: Uint8Array): string => Buffer.from(uuid).toString("hex").toUpperCase();

function uuidBytes(): Uint8Array {
  return new Uint8Array(Buffer.from(randomUUID().replace(/-/g, ""), "hex"));
}

function externalIPv4(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return "127.0.0.1";
}

/** zeromq.js types routingId as a string; the native setter takes bytes (ZMQ_ROUTING_ID = 5). */
function setBinaryRoutingId(sock: zmq.Dealer, id: Uint8Array): void {
  (sock as unknown as { setStringOption(option: number, value: Buffer): void }).setStringOption(5, Buffer.from(id));
}

export class ZreNode {
  readonly uuid: Uint8Array;
  /** Our UUID as 32 upper-case hex digits. */
  readonly id: string;
  readonly name: string;

  private readonly opts: ZreNodeOptions;
  private reapTicks: LateTicks | null = null;
  private readonly evasiveMs: number;
  private readonly expiredMs: number;
  private readonly headers: Record<string, string>;
  private router: zmq.Router | undefined;
  private directRouter: DirectRouter | undefined;
  private routerPort = 0;
  private ownEndpoint = "";
  private readonly peers = new Map<string, Peer>();
  private readonly pending = new Map<string, Link>();
  private readonly idByRid = new Map<string, string>();
  private readonly groups = new Set<string>();
  private status = 0;
  private readonly listeners = new Set<ZreListener>();
  private readonly iteratorEnds = new Set<() => void>();
  private beaconRx: dgram.Socket | undefined;
  private beaconTx: dgram.Socket | undefined;
  private beaconTimer: NodeJS.Timeout | undefined;
  private reapTimer: NodeJS.Timeout | undefined;
  private started = false;
  private stopped = false;
  private receiving: Promise<void> = Promise.resolve();

  constructor(opts: ZreNodeOptions = {}) {
    this.opts = opts;
    this.uuid = opts.uuid ? Uint8Array.from(opts.uuid) : uuidBytes();
    if (this.uuid.length !== 16) throw new VtxError("ZRE_BAD_OPTION", "uuid must be 16 bytes");
    this.id = hexId(this.uuid);
    this.name = opts.name ?? this.id.slice(0, 6);
    this.headers = { ...(opts.headers ?? {}) };
    this.evasiveMs = opts.evasiveMs ?? 5000;
    this.expiredMs = opts.expiredMs ?? 30000;
    if (!(this.evasiveMs > 0 && this.expiredMs > this.evasiveMs)) {
      throw new VtxError("ZRE_BAD_OPTION", `need 0 < evasiveMs (${this.evasiveMs}) < expiredMs (${this.expiredMs})`);
    }
  }

  /** The endpoint peers connect to (`tcp://host:port`), known after {@link start}. */
  get endpoint(): string {
    return this.ownEndpoint;
  }

  /** Binds the ROUTER, starts discovery and the expiry timer. */
  async start(): Promise<void> {
    if (this.started) throw new VtxError("ZRE_STATE", "node already started");
    this.started = true;
    const host = this.opts.host ?? "127.0.0.1";
    // Handover: a peer reconnecting with the same routing id (after a TCP
    // reset) takes over its id instead of being ignored by the ROUTER.
    const bindTo = `tcp://${host}:${this.opts.port && this.opts.port > 0 ? this.opts.port : "*"}`;
    let last: string;
    if (this.opts.direct !== false && DirectRouter.accepts(bindTo)) {
      const router = new DirectRouter({
        // ZRE messages carry no bound of their own; the cluster's are chunks.
        maxMessageSize: 256 * 1024 * 1024,
        handshakeTimeout: 10_000,
        maxBacklog: Number.MAX_SAFE_INTEGER, // the ROUTER only receives
        peerIdentities: true,
        message: (identity, frames) => {
          if (this.stopped) return;
          try {
            this.onMessage([identity, ...frames]);
          } catch (err) {
            // A listener's bug must not take the node (and its process) down.
            this.log("warn", "message handling failed", { err: String(err) });
          }
        },
        dropped: (peer, err) => this.log("warn", "dropped a connection", { peer, code: err.code, err: err.message }),
      });
      this.directRouter = router;
      last = await router.bind(bindTo);
    } else {
      const router = new zmq.Router({ handover: true, linger: 0 });
      this.router = router;
      await router.bind(bindTo);
      last = router.lastEndpoint ?? "";
      this.receiving = this.receiveLoop(router);
    }
    this.routerPort = Number(last.slice(last.lastIndexOf(":") + 1));
    const adv = this.opts.advertise ?? (host === "0.0.0.0" || host === "*" ? externalIPv4() : host);
    this.ownEndpoint = `tcp://${adv}:${this.routerPort}`;

    const useBeacon = this.opts.beacon !== false && (this.opts.beacon !== undefined || this.opts.gossip === undefined);
    if (useBeacon) await this.startBeacon(this.opts.beacon || {}, host);
    for (const ep of this.opts.gossip ?? []) this.dial(ep);

    const tick = Math.max(10, Math.min(this.evasiveMs, 1000) / 4);
    this.reapTicks = new LateTicks(tick, Date.now());
    this.reapTimer = setInterval(() => this.reap(), tick);
    this.reapTimer.unref();
    this.log("info", "zre node started", { endpoint: this.ownEndpoint, beacon: useBeacon, gossip: this.opts.gossip ?? [] });
  }

  /** Sends a leaving beacon (port 0), closes every socket, ends event iterators. */
  async stop(): Promise<void> {
    if (!this.started || this.stopped) return;
    this.stopped = true;
    clearInterval(this.reapTimer);
    clearInterval(this.beaconTimer);
    // What the application queued last (a cluster's DROP messages) still
    // goes out: hand it to zeromq.js, then close with a short linger.
    await Promise.all([...this.peers.values()].map((p) => this.drained(p.link, 500)));
    if (this.beaconTx) {
      const tx = this.beaconTx;
      const b = this.opts.beacon || {};
      await new Promise<void>((resolve) => {
        tx.send(encodeBeacon({ uuid: this.uuid, port: 0 }), b.port ?? ZRE_DISCOVERY_PORT, b.broadcast ?? "255.255.255.255", () => resolve());
      });
      await new Promise<void>((resolve) => tx.close(() => resolve()));
    }
    const rx = this.beaconRx;
    if (rx) await new Promise<void>((resolve) => rx.close(() => resolve()));
    // Direct links write out what they hold (a cluster's DROP may sit behind
    // megabytes of DATA to a busy peer) before the process may exit.
    const gone: Promise<void>[] = [];
    for (const p of this.peers.values()) gone.push(this.closeLink(p.link, STOP_LINGER_MS));
    for (const l of this.pending.values()) gone.push(this.closeLink(l, 200));
    this.peers.clear();
    this.pending.clear();
    this.router?.close();
    await this.directRouter?.close();
    await this.receiving;
    await Promise.all(gone);
    for (const end of [...this.iteratorEnds]) end();
    this.listeners.clear();
    this.log("info", "zre node stopped");
  }

  // ------------------------------------------------------------ application API

  /** Calls `fn` for every event, synchronously, in arrival order. Returns an unsubscribe function. */
  on(fn: ZreListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Events as an async iterator; it ends when the node stops or the consumer breaks. */
  events(): AsyncIterableIterator<ZreEvent> {
    const queue: ZreEvent[] = [];
    let wake: (() => void) | undefined;
    let done = this.stopped;
    const listener: ZreListener = (ev) => {
      queue.push(ev);
      wake?.();
    };
    const end = (): void => {
      done = true;
      wake?.();
    };
    this.listeners.add(listener);
    this.iteratorEnds.add(end);
    const finish = (): IteratorResult<ZreEvent> => {
      done = true;
      this.listeners.delete(listener);
      this.iteratorEnds.delete(end);
      return { value: undefined, done: true };
    };
    const it: AsyncIterableIterator<ZreEvent> = {
      next: async () => {
        for (;;) {
          const ev = queue.shift();
          if (ev) return { value: ev, done: false };
          if (done) return finish();
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
        }
      },
      return: async () => finish(),
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  /** Joins a group: tells every peer (RFC 36 JOIN, status incremented). */
  join(group: string): void {
    if (this.groups.has(group)) return;
    this.groups.add(group);
    this.status = (this.status + 1) & 0xff;
    this.sendAll({ type: "JOIN", sequence: 0, group, status: this.status });
  }

  /** Leaves a group: tells every peer (RFC 36 LEAVE, status incremented). */
  leave(group: string): void {
    if (!this.groups.delete(group)) return;
    this.status = (this.status + 1) & 0xff;
    this.sendAll({ type: "LEAVE", sequence: 0, group, status: this.status });
  }

  /** Groups we are in. */
  ownGroups(): string[] {
    return [...this.groups];
  }

  /**
   * Sends a multi-frame message to one peer. Resolves when zeromq.js has
   * taken it (sends to one peer are queued in order); rejects with
   * `ZRE_UNKNOWN_PEER` or `ZRE_SEND_FAILED`.
   */
  whisper(peer: string, content: readonly (Uint8Array | string)[]): Promise<void> {
    const p = this.peers.get(peer);
    if (!p) return Promise.reject(new VtxError("ZRE_UNKNOWN_PEER", `no peer ${peer}`));
    return this.send(p.link, { type: "WHISPER", sequence: 0, content: content.map(toBytes) });
  }

  /**
   * Like {@link whisper} without a promise per message: queues the message
   * and returns false if there is no such peer. A failed send is not
   * reported here; the link's loss shows as the peer's EXIT. For bulk
   * traffic (cluster DATA).
   */
  post(peer: string, content: readonly Uint8Array[]): boolean {
    const p = this.peers.get(peer);
    if (!p || p.link.closed) return false;
    const link = p.link;
    link.sent = (link.sent + 1) & 0xffff;
    const frames = encodeWhisper(link.sent, content);
    if (link.direct !== null) {
      // Refused only while reconnecting with a full queue: the gap in
      // sequence numbers then tells the peer (RFC 36), as a libzmq drop would.
      link.direct.sendMessage(frames);
      return true;
    }
    link.queue.push({ frames, settle: undefined });
    if (!link.flushing) void this.flush(link);
    return true;
  }

  /** Sends a multi-frame message to every peer in a group (ours or not). */
  shout(group: string, content: readonly (Uint8Array | string)[]): Promise<void> {
    const frames = content.map(toBytes);
    const sends: Promise<void>[] = [];
    for (const p of this.peers.values()) {
      if (p.ready && p.groups.has(group)) sends.push(this.send(p.link, { type: "SHOUT", sequence: 0, group, content: frames }));
    }
    return Promise.all(sends).then(() => undefined);
  }

  /** Peers that have said HELLO. */
  peerList(): ZrePeerInfo[] {
    return [...this.peers.values()].filter((p) => p.ready).map((p) => this.info(p));
  }

  /** Peers (that said HELLO) in a group. */
  peersIn(group: string): string[] {
    return [...this.peers.values()].filter((p) => p.ready && p.groups.has(group)).map((p) => p.id);
  }

  peer(id: string): ZrePeerInfo | undefined {
    const p = this.peers.get(id);
    return p && p.ready ? this.info(p) : undefined;
  }

  // ------------------------------------------------------------ internals

  private info(p: Peer): ZrePeerInfo {
    return { peer: p.id, name: p.name, endpoint: p.link.endpoint, headers: p.headers, groups: [...p.groups] };
  }

  private emit(ev: ZreEvent): void {
    // A Set's iteration tolerates deletion of the current listener.
    for (const l of this.listeners) {
      try {
        l(ev);
      } catch (err) {
        this.log("warn", "zre listener threw", { err: String(err) });
      }
    }
  }

  private log(level: ZreLogRecord["level"], msg: string, extra: Record<string, unknown> = {}): void {
    this.opts.log?.({ level, msg, node: this.id, ...extra });
  }

  private async startBeacon(b: ZreBeaconOptions, host: string): Promise<void> {
    const port = b.port ?? ZRE_DISCOVERY_PORT;
    const rx = dgram.createSocket({ type: "udp4", reuseAddr: true });
    await new Promise<void>((resolve, reject) => {
      rx.once("error", reject);
      rx.bind(port, b.bind ?? "0.0.0.0", () => {
        rx.off("error", reject);
        resolve();
      });
    });
    rx.on("error", (err) => this.log("warn", "beacon socket error", { err: String(err) }));
    rx.on("message", (d, rinfo) => this.onBeacon(d, rinfo.address));
    this.beaconRx = rx;
    // Sent from the ROUTER's interface so the beacon's source address is
    // one peers can reach our ROUTER on (RFC 36: endpoint = sender IP + port).
    const tx = dgram.createSocket({ type: "udp4" });
    await new Promise<void>((resolve, reject) => {
      tx.once("error", reject);
      tx.bind(0, host === "*" ? "0.0.0.0" : host, () => {
        tx.off("error", reject);
        resolve();
      });
    });
    tx.setBroadcast(true);
    tx.on("error", (err) => this.log("warn", "beacon send error", { err: String(err) }));
    this.beaconTx = tx;
    const beacon = encodeBeacon({ uuid: this.uuid, port: this.routerPort });
    const dest = b.broadcast ?? "255.255.255.255";
    const send = (): void => {
      if (!this.stopped) tx.send(beacon, port, dest);
    };
    send();
    this.beaconTimer = setInterval(send, b.intervalMs ?? 1000);
    this.beaconTimer.unref();
  }

  private onBeacon(d: Buffer, address: string): void {
    if (this.stopped) return;
    let b;
    try {
      b = decodeBeacon(d);
    } catch (err) {
      this.log("debug", "dropped a datagram that is not a ZRE beacon", { from: address, code: (err as VtxError).code });
      return;
    }
    const id = hexId(b.uuid);
    if (id === this.id) return;
    const known = this.peers.get(id);
    if (b.port === 0) {
      if (known) this.removePeer(known, "left");
      return;
    }
    if (known) {
      this.refresh(known);
      return;
    }
    this.connectPeer(b.uuid, `tcp://${address}:${b.port}`);
  }

  /** Gossip: dial an endpoint whose UUID we do not know yet and say HELLO. */
  private dial(endpoint: string): void {
    if (this.stopped || endpoint === this.ownEndpoint || this.pending.has(endpoint)) return;
    for (const p of this.peers.values()) if (p.link.endpoint === endpoint) return;
    const link = this.openLink(endpoint);
    this.pending.set(endpoint, link);
    void this.send(link, this.hello()).catch(() => undefined);
  }

  private hello(): ZreHello {
    return { type: "HELLO", sequence: 0, endpoint: this.ownEndpoint, groups: [...this.groups], status: this.status, name: this.name, headers: this.headers };
  }

  private openLink(endpoint: string): Link {
    if (this.opts.direct !== false) {
      const direct = DirectDealer.create(
        endpoint,
        // The DEALER only sends (RFC 36): replies come through the peer's own link to our ROUTER.
        { message: () => undefined, failed: () => undefined, unavailable: () => undefined },
        { identity: encodeRoutingId(this.uuid), reconnect: true, maxQueued: this.opts.sendHighWaterMark ?? 1000 },
      );
      if (direct !== undefined) return { endpoint, dealer: null, direct, sent: 0, queue: [], head: 0, flushing: false, idle: [], closed: false };
    }
    const dealer = new zmq.Dealer({ linger: 0, sendHighWaterMark: this.opts.sendHighWaterMark ?? 1000 });
    setBinaryRoutingId(dealer, encodeRoutingId(this.uuid));
    dealer.connect(endpoint);
    return { endpoint, dealer, direct: null, sent: 0, queue: [], head: 0, flushing: false, idle: [], closed: false };
  }

  /** Resolves when a direct link's connection is gone (a libzmq DEALER lingers in the context instead). */
  private closeLink(link: Link, lingerMs: number): Promise<void> {
    if (link.closed) return Promise.resolve();
    link.closed = true;
    // A direct link writes out what it holds for up to `lingerMs`, then
    // ends (what is held while reconnecting is dropped, as libzmq's linger would).
    const gone = link.direct?.close(lingerMs) ?? Promise.resolve();
    try {
      if (link.dealer) {
        link.dealer.linger = lingerMs;
        link.dealer.close();
      }
    } catch {
      // already closed
    }
    if (!link.flushing) {
      const left = link.queue.slice(link.head);
      link.queue = [];
      link.head = 0;
      for (const item of left) item.settle?.(new VtxError("ZRE_SEND_FAILED", `link to ${link.endpoint} closed before the send`));
    }
    for (const w of link.idle.splice(0)) w();
    return gone;
  }

  /** Resolves once everything queued on the link was handed to zeromq.js, or after `ms`. */
  private async drained(link: Link, ms: number): Promise<void> {
    if (!link.flushing || link.closed) return;
    let t: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      link.idle.push(resolve);
      t = setTimeout(resolve, ms);
    });
    clearTimeout(t);
  }

  private connectPeer(uuid: Uint8Array, endpoint: string): Peer {
    const id = hexId(uuid);
    let link = this.pending.get(endpoint);
    if (link) {
      this.pending.delete(endpoint);
    } else {
      link = this.openLink(endpoint);
      void this.send(link, this.hello()).catch(() => undefined);
    }
    const peer: Peer = {
      id,
      uuid: Uint8Array.from(uuid),
      link,
      ready: false,
      want: 0,
      name: "",
      headers: {},
      groups: new Set(),
      status: 0,
      lastSeen: Date.now(),
      evasive: false,
      lastPing: 0,
    };
    this.peers.set(id, peer);
    this.log("debug", "connected to peer", { peer: id, endpoint });
    return peer;
  }

  private removePeer(p: Peer, reason: ZreExitReason): void {
    if (this.peers.get(p.id) !== p) return;
    this.peers.delete(p.id);
    void this.closeLink(p.link, 0);
    this.log("info", "peer gone", { peer: p.id, name: p.name, reason });
    if (p.ready) this.emit({ type: "EXIT", peer: p.id, name: p.name, reason });
    // A gossip endpoint stays wanted: dial it again so that the node there
    // is found when it comes back (with a new UUID or the same one).
    if (!this.stopped && this.opts.gossip?.includes(p.link.endpoint)) this.dial(p.link.endpoint);
  }

  private refresh(p: Peer): void {
    p.lastSeen = Date.now();
    p.evasive = false;
  }

  private reap(): void {
    const now = Date.now();
    // A late reap decides nothing (LateTicks): what peers sent while this
    // thread was blocked is not read yet, and must not count as silence.
    if (this.reapTicks?.late(now) !== false) return;
    for (const p of [...this.peers.values()]) {
      const silent = now - p.lastSeen;
      if (silent > this.expiredMs) {
        this.removePeer(p, "expired");
      } else if (silent > this.evasiveMs && now - p.lastPing > this.evasiveMs / 2) {
        // RFC 36: a node SHOULD PING a peer that has been silent; any reply
        // (PING-OK or other traffic) refreshes it.
        p.lastPing = now;
        void this.send(p.link, { type: "PING", sequence: 0 }).catch(() => undefined);
        if (!p.evasive && p.ready) {
          p.evasive = true;
          this.emit({ type: "EVASIVE", peer: p.id, name: p.name });
        }
      }
    }
  }

  private sendAll(msg: ZreMessage): void {
    for (const p of this.peers.values()) void this.send(p.link, msg).catch(() => undefined);
    for (const l of this.pending.values()) void this.send(l, msg).catch(() => undefined);
  }

  /** Numbers the message for this link and queues it after the link's previous send. */
  private send(link: Link, msg: ZreMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.enqueue(link, msg, (err) => (err ? reject(err) : resolve()));
    });
  }

  /**
   * Queues without a promise (the hot path: cluster DATA). The sequence
   * number is taken now, so messages leave in the order they were queued.
   */
  private enqueue(link: Link, msg: ZreMessage, settle?: (err?: VtxError) => void): void {
    if (link.closed) {
      settle?.(new VtxError("ZRE_SEND_FAILED", `link to ${link.endpoint} is closed`));
      return;
    }
    link.sent = (link.sent + 1) & 0xffff;
    const frames = encodeZre({ ...msg, sequence: link.sent });
    if (link.direct !== null) {
      // Written at the end of this tick; refused only while reconnecting with a full queue.
      if (link.direct.sendMessage(frames)) settle?.();
      else settle?.(new VtxError("ZRE_SEND_FAILED", `link to ${link.endpoint} is not connected and holds too much`));
      return;
    }
    link.queue.push({ frames, settle });
    if (!link.flushing) void this.flush(link);
  }

  private async flush(link: Link): Promise<void> {
    link.flushing = true;
    try {
      // Bounded by what is queued; a send waits only while the DEALER is at
      // its high-water mark (the peer is slow), which is the backpressure.
      while (link.head < link.queue.length && !link.closed) {
        const item = link.queue[link.head]!;
        link.queue[link.head] = undefined as unknown as Outgoing;
        link.head++;
        try {
          await link.dealer!.send(item.frames);
        } catch (err) {
          item.settle?.(new VtxError("ZRE_SEND_FAILED", `send to ${link.endpoint} failed`, { cause: err }));
          continue;
        }
        item.settle?.();
        if (link.head > 1024 && link.head * 2 > link.queue.length) {
          link.queue = link.queue.slice(link.head);
          link.head = 0;
        }
      }
    } finally {
      link.flushing = false;
      for (const w of link.idle.splice(0)) w();
      if (link.closed) {
        const left = link.queue.slice(link.head);
        link.queue = [];
        link.head = 0;
        for (const item of left) item.settle?.(new VtxError("ZRE_SEND_FAILED", `link to ${link.endpoint} closed before the send`));
      } else if (link.head === link.queue.length) {
        link.queue = [];
        link.head = 0;
      }
    }
  }

  private async receiveLoop(router: zmq.Router): Promise<void> {
    try {
      for await (const frames of router) {
        if (this.stopped) break;
        this.onMessage(frames);
      }
    } catch (err) {
      if (!this.stopped) this.log("warn", "router receive failed", { err: String(err) });
    }
  }

  private onMessage(frames: Buffer[]): void {
    const [rid, ...rest] = frames;
    let uuid: Uint8Array;
    let msg: ZreMessage;
    try {
      uuid = decodeRoutingId(rid ?? new Uint8Array(0));
      msg = decodeZre(rest);
    } catch (err) {
      this.log("warn", "dropped an undecodable ZRE message", { code: (err as VtxError).code, err: String(err) });
      return;
    }
    // The routing id's bytes are a cheaper map key than the hex UUID (one
    // lookup per message on the hot path).
    const ridKey = rid!.toString("latin1");
    let id = this.idByRid.get(ridKey);
    if (id === undefined) {
      id = hexId(uuid);
      if (this.idByRid.size > 4096) this.idByRid.clear();
      this.idByRid.set(ridKey, id);
    }
    if (id === this.id) return;
    let p = this.peers.get(id);

    if (msg.type === "HELLO") {
      if (p && p.ready) {
        // A second HELLO means the peer restarted (new link, sequence 1).
        this.removePeer(p, "restarted");
        p = undefined;
      }
      // A different UUID at an endpoint we know: the node there restarted
      // (RFC 36 UUIDs are per node instance). Drop the old one now rather
      // than after expiry, so its users learn at once.
      for (const other of [...this.peers.values()]) {
        if (other.id !== id && other.ready && other.link.endpoint === msg.endpoint) this.removePeer(other, "restarted");
      }
      if (!p) p = this.connectPeer(uuid, msg.endpoint);
      if (msg.sequence !== 1) {
        this.log("warn", "HELLO with sequence other than 1", { peer: id, sequence: msg.sequence });
        this.removePeer(p, "lost-messages");
        return;
      }
      p.want = 1;
      p.ready = true;
      p.name = msg.name;
      p.headers = { ...msg.headers };
      p.status = msg.status;
      p.groups = new Set(msg.groups);
      this.refresh(p);
      this.emit({ type: "ENTER", peer: id, name: p.name, endpoint: msg.endpoint, headers: p.headers });
      for (const g of msg.groups) this.emit({ type: "JOIN", peer: id, name: p.name, group: g });
      return;
    }

    if (!p || !p.ready) {
      // RFC 36: HELLO comes first; anything else from a stranger is ignored.
      this.log("debug", "ignored a message from a peer that has not said HELLO", { peer: id, type: msg.type });
      return;
    }
    const want = (p.want + 1) & 0xffff;
    if (msg.sequence !== want) {
      this.log("warn", "sequence gap: messages from peer were lost", { peer: id, want, got: msg.sequence });
      this.removePeer(p, "lost-messages");
      return;
    }
    p.want = want;
    this.refresh(p);
    switch (msg.type) {
      case "WHISPER":
        this.emit({ type: "WHISPER", peer: id, name: p.name, content: msg.content as Buffer[] });
        break;
      case "SHOUT":
        this.emit({ type: "SHOUT", peer: id, name: p.name, group: msg.group, content: msg.content as Buffer[] });
        break;
      case "JOIN":
      case "LEAVE": {
        p.status = (p.status + 1) & 0xff;
        if (p.status !== msg.status) {
          this.log("warn", "group status out of step", { peer: id, ours: p.status, theirs: msg.status });
          p.status = msg.status;
        }
        if (msg.type === "JOIN") {
          if (!p.groups.has(msg.group)) {
            p.groups.add(msg.group);
            this.emit({ type: "JOIN", peer: id, name: p.name, group: msg.group });
          }
        } else if (p.groups.delete(msg.group)) {
          this.emit({ type: "LEAVE", peer: id, name: p.name, group: msg.group });
        }
        break;
      }
      case "PING":
        void this.send(p.link, { type: "PING-OK", sequence: 0 }).catch(() => undefined);
        break;
      case "PING-OK":
        break;
    }
  }
}

function toBytes(f: Uint8Array | string): Uint8Array {
  return typeof f === "string" ? Buffer.from(f) : f;
}
