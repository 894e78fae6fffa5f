/**
 * One remote peer of a udp:// endpoint: its {@link UdpPeer} (the sans-IO
 * protocol engine) joined to its bridge. App→wire, it is the bridge's
 * {@link BridgeSink}: messages go into the peer's batcher, a flush at the
 * end of each bridge burst writes the datagrams, and `false` from
 * `message()` (reliable window full) stops the bridge reading, so the
 * application socket's HWM applies. Wire→app, whole messages go to
 * `bridge.deliver`; when the application falls behind, a reliable session
 * holds the peer's R datagrams unacknowledged (the sender's window fills and
 * it stops), a plain one keeps delivering up to a bound and then drops,
 * counted.
 *
 * A connect-side link keeps one bridge across sessions (messages queue in
 * libzmq while the peer is away); the peer engine is replaced on each new
 * session. Accept-side and discovered links open their bridge when the
 * session comes up and close it when it ends.
 */
import type { Bridge, BridgeSink } from "@vtx/runtime/driver-kit";
import type { NegotiatedSession } from "./handshake.js";
import type { PeerEvents, PeerOptions } from "./udp-peer.js";
import { UdpPeer } from "./udp-peer.js";
import { FLAG_RELIABLE } from "./wire-constants.js";

/** Longest a streaming sender's partial datagram waits for more messages, ms (see {@link PeerLink.flush}). */
const CORK_MS = 1;

/** What a link needs from the endpoint that owns it. */
export interface LinkHost {
  transmit(datagram: Uint8Array, port: number, address: string): void;
  /** (Re)arm the endpoint timer for `deadline` (performance.now() time). */
  schedule(deadline: number): void;
  dropped(code: string, peer: string): void;
  /** The session is up: open or reuse the bridge. Returns it, or null to refuse (the link is then closed). */
  up(link: PeerLink, session: NegotiatedSession): Bridge | null;
  /** The session ended (never called after {@link PeerLink.close}). */
  down(link: PeerLink, error: { code: string; message: string }, wasUp: boolean): void;
}

export class PeerLink implements BridgeSink {
  readonly address: string;
  readonly port: number;
  /** host:port, IPv6 in brackets (for events and logs). */
  readonly name: string;
  readonly #host: LinkHost;
  readonly #maxBacklog: number;
  #peer: UdpPeer | null = null;
  bridge: Bridge | null = null;
  #up = false;
  #closed = false;
  /** Wire→app: the bridge said stop. */
  #congested = false;
  #overflow = 0;
  /** Reliable R datagrams held (unacknowledged) while congested. */
  #held: Uint8Array[] = [];
  #holdLimit = 512;
  /** App→wire: the bridge pump waits for the window to open. */
  #senderWaiter: (() => void) | null = null;
  /** Streaming detection for {@link flush}. */
  #sendsSinceHeard = 0;
  #lastFlush = -Infinity;
  #corked: NodeJS.Timeout | undefined;
  /** Topics the app subscribed (SUB/XSUB): replayed to each new session (§6). */
  readonly #subs = new Map<string, number>();
  /** Code of the last session end (the endpoint re-accepts a restarted peer's HELLO). */
  lastDown = "";
  /** When a discovered link's handshake is abandoned. */
  handshakeDeadline = Infinity;
  readonly events: PeerEvents;

  constructor(host: LinkHost, address: string, port: number, maxDeliveryBacklog: number) {
    this.#host = host;
    this.address = address;
    this.port = port;
    this.name = address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
    this.#maxBacklog = maxDeliveryBacklog;
    this.events = {
      transmit: (dg) => host.transmit(dg, port, address),
      up: (session) => this.#onUp(session),
      message: (frames) => this.#deliver(frames),
      subscription: (topic, subscribe) => {
        const b = this.bridge;
        if (b === null) return;
        const t = asBuffer(topic);
        if (subscribe) b.deliverSubscribe(t);
        else b.deliverCancel(t);
      },
      down: (error) => this.#onDown(error),
      dropped: (code) => host.dropped(code, this.name),
    };
  }

  get peer(): UdpPeer | null {
    return this.#peer;
  }

  get isUp(): boolean {
    return this.#up;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Start a connecting session (connect side / discovery). */
  connect(options: PeerOptions, now: number): void {
    this.#up = false;
    this.#holdLimit = 2 * (options.window ?? 256);
    this.#peer = UdpPeer.connect(options, this.events, now);
    this.#host.schedule(this.#peer.nextDeadline());
  }

  /** Judge a HELLO from a new address (accept side). False: nothing to keep (malformed, or refused). */
  accept(options: PeerOptions, datagram: Uint8Array, now: number, busy: boolean): boolean {
    this.#holdLimit = 2 * (options.window ?? 256);
    // UdpPeer.accept runs `up` before returning: the link must see its peer then.
    const peer = UdpPeer.accept(options, this.events, datagram, now, busy);
    if (peer === undefined || peer.state === "closed") return false;
    this.#peer ??= peer;
    this.#host.schedule(peer.nextDeadline());
    return true;
  }

  /** A datagram from this peer's address. */
  receive(datagram: Uint8Array, now: number): void {
    const peer = this.#peer;
    if (peer === null) return;
    if (this.#congested && ((datagram[3] as number) & FLAG_RELIABLE) !== 0 && peer.session?.reliable === true) {
      // Unacknowledged, so the sender's window fills and it stops (§5 flow control).
      if (this.#held.length < this.#holdLimit) this.#held.push(datagram);
      return;
    }
    peer.receive(datagram, now);
    this.#afterActivity(peer, now);
  }

  /** Run the peer's timers if due; returns its next deadline. */
  poll(now: number): number {
    const peer = this.#peer;
    if (peer === null) return Infinity;
    if (peer.nextDeadline() <= now) {
      peer.poll(now);
      this.#wakeSender(peer);
    }
    return Math.min(peer.nextDeadline(), this.handshakeDeadline);
  }

  #afterActivity(peer: UdpPeer, now: number): void {
    if (peer.state === "closed") return;
    // Acks due now (out of order, every 2nd R datagram) go at once.
    if (peer.nextDeadline() <= now) peer.poll(now);
    this.#wakeSender(peer);
    this.#host.schedule(peer.nextDeadline());
  }

  #wakeSender(peer: UdpPeer): void {
    const w = this.#senderWaiter;
    if (w !== null && (peer.canSend || peer.state !== "ready")) {
      this.#senderWaiter = null;
      w();
    }
  }

  // ---- BridgeSink (app → wire) ----------------------------------------------

  message(frames: Buffer[]): boolean {
    const peer = this.#peer;
    // A message the bridge read as the session ended: lost, as with a TCP peer that goes.
    if (peer === null || peer.state !== "ready") return true;
    peer.send(frames, performance.now());
    this.#sendsSinceHeard++;
    return peer.canSend;
  }

  /**
   * End of a bridge burst. Written at once, except while streaming: when
   * this side has sent several messages since it last heard one from the
   * peer and the previous flush was under {@link CORK_MS} ago, the partial
   * datagram waits up to CORK_MS for more (full datagrams still leave as
   * they fill). The bridge's queue is empty at nearly every message when
   * the application sends one at a time, so without this a stream goes out
   * at one message per datagram, and per-datagram costs (a sendmsg, a
   * receive event, an ack) cap it. A request/reply exchange (a message
   * heard between two sends) or a sparse sender is never delayed. Linux's
   * TCP autocorking makes the same trade.
   */
  flush(): void {
    const peer = this.#peer;
    if (peer === null || peer.state !== "ready") return;
    const now = performance.now();
    if (this.#sendsSinceHeard >= 2 && now - this.#lastFlush < CORK_MS) {
      if (this.#corked === undefined) this.#corked = setTimeout(this.#uncork, CORK_MS);
      return;
    }
    this.#flushNow(peer, now);
  }

  #flushNow(peer: UdpPeer, now: number): void {
    this.#lastFlush = now;
    if (this.#corked !== undefined) {
      clearTimeout(this.#corked);
      this.#corked = undefined;
    }
    peer.flush(now);
    this.#host.schedule(peer.nextDeadline());
  }

  readonly #uncork = (): void => {
    this.#corked = undefined;
    const peer = this.#peer;
    if (peer !== null && peer.state === "ready") this.#flushNow(peer, performance.now());
  };

  drained(): Promise<void> {
    const peer = this.#peer;
    if (peer === null || peer.state !== "ready" || peer.canSend) return Promise.resolve();
    return new Promise((resolve) => {
      const prev = this.#senderWaiter;
      this.#senderWaiter = () => {
        prev?.();
        resolve();
      };
    });
  }

  subscribe(topic: Buffer): void {
    const k = topic.toString("latin1");
    this.#subs.set(k, (this.#subs.get(k) ?? 0) + 1);
    this.#sendSubscription(topic, true);
  }

  cancel(topic: Buffer): void {
    const k = topic.toString("latin1");
    const n = (this.#subs.get(k) ?? 0) - 1;
    if (n > 0) this.#subs.set(k, n);
    else this.#subs.delete(k);
    this.#sendSubscription(topic, false);
  }

  #sendSubscription(topic: Buffer, subscribe: boolean): void {
    const peer = this.#peer;
    if (peer === null || peer.state !== "ready") return;
    peer.subscribe(topic, subscribe, performance.now());
  }

  // ---- wire → app --------------------------------------------------------------

  #deliver(frames: Uint8Array[]): void {
    this.#sendsSinceHeard = 0;
    const b = this.bridge;
    if (b === null) return;
    if (this.#congested && this.#peer?.session?.reliable !== true && ++this.#overflow > this.#maxBacklog) {
      this.#host.dropped("UDP_DELIVERY_OVERFLOW", this.name);
      return;
    }
    if (!b.deliver(asBuffers(frames)) && !this.#congested) {
      this.#congested = true;
      this.#overflow = 0;
      void b.drained().then(() => this.#onDrained());
    }
  }

  #onDrained(): void {
    this.#congested = false;
    const peer = this.#peer;
    if (this.#closed || peer === null) {
      this.#held = [];
      return;
    }
    const held = this.#held;
    this.#held = [];
    const now = performance.now();
    for (let i = 0; i < held.length; i++) {
      if (this.#congested) {
        // Congested again part way: keep the rest, in order, ahead of anything newer.
        this.#held = held.slice(i).concat(this.#held);
        return;
      }
      peer.receive(held[i] as Uint8Array, now);
      if (peer.state === "closed") return;
    }
    this.#afterActivity(peer, now);
  }

  // ---- session events ----------------------------------------------------------

  #onUp(session: NegotiatedSession): void {
    const bridge = this.#host.up(this, session);
    if (bridge === null) return;
    this.bridge = bridge;
    this.#up = true;
    bridge.attach(this);
    // §6: a new session starts with the whole subscription set.
    const peer = this.#peer;
    if (peer !== null) {
      const now = performance.now();
      for (const [k, n] of this.#subs) for (let i = 0; i < n; i++) peer.subscribe(Buffer.from(k, "latin1"), true, now);
      if (this.#subs.size > 0) peer.flush(now);
    }
  }

  #onDown(error: { code: string; message: string }): void {
    const wasUp = this.#up;
    if (this.#corked !== undefined) clearTimeout(this.#corked);
    this.#corked = undefined;
    this.#up = false;
    this.lastDown = error.code;
    this.bridge?.detach(this);
    this.#held = [];
    this.#congested = false;
    const w = this.#senderWaiter;
    this.#senderWaiter = null;
    w?.();
    if (!this.#closed) this.#host.down(this, error, wasUp);
  }

  /** Orderly end from this side: flush, BYE (§3). No `down` follows. */
  close(now: number): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#up = false;
    if (this.#corked !== undefined) clearTimeout(this.#corked);
    this.#corked = undefined;
    this.#peer?.close(now);
    this.bridge?.detach(this);
    this.#held = [];
    const w = this.#senderWaiter;
    this.#senderWaiter = null;
    w?.();
  }

  /**
   * The peer is known to be gone (ICMP port unreachable on a connected
   * socket): end the session now rather than after the heartbeat timeout.
   */
  fail(error: { code: string; message: string }, now: number): void {
    const peer = this.#peer;
    if (peer === null || peer.state === "closed" || this.#closed) return;
    peer.close(now);
    this.#onDown(error);
  }

  /** Replace the session engine (connect side, after the previous session ended). */
  reset(): void {
    this.#peer = null;
    this.handshakeDeadline = Infinity;
  }

  /** Nothing from the app left to send, and every reliable datagram acknowledged (for linger). */
  get idle(): boolean {
    const peer = this.#peer;
    if (peer === null || peer.state !== "ready") return true;
    const bridgeIdle = this.bridge === null || this.bridge.outboundIdle;
    return bridgeIdle && peer.stats.channel.inFlight === 0 && peer.stats.channel.backlog === 0;
  }
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** Frames are views into received datagrams (Buffers) or a reassembled body (a Uint8Array): no copy either way. */
function asBuffers(frames: Uint8Array[]): Buffer[] {
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i] as Uint8Array;
    if (!Buffer.isBuffer(f)) frames[i] = Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  }
  return frames as Buffer[];
}
