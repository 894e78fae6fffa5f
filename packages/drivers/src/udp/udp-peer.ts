/**
 * One remote peer of a udp:// endpoint, sans I/O (docs/protocols/udp.md §3-6):
 * the handshake, the session's ReliableChannel, its batchers, reassembler and
 * heartbeats, composed. The driver owns the socket and the bridge: it hands
 * this object every datagram from the peer's address and every message from
 * the bridge, calls {@link UdpPeer.flush} at the end of each burst and
 * {@link UdpPeer.poll} at {@link UdpPeer.nextDeadline}; the peer answers
 * through {@link PeerEvents}. Time is passed in; nothing here touches a clock,
 * a socket or zeromq.
 */
import { DecodeError, UDP_ERR, VtxError } from "./codec-errors.js";
import { dispatchCommands, encodeControlRoom, parseDatagram, type ControlCommand, type DatagramSink, type HelloCommand } from "./codec.js";
import { Batcher } from "./batcher.js";
import { decodeFrames } from "./frames.js";
import { helloFor, HelloRetry, judgeHello, negotiate, type NegotiatedSession, type SessionConfig } from "./handshake.js";
import { emptyHeader, type DatagramHeader } from "./header.js";
import { Liveness } from "./liveness.js";
import { Reassembler, type ReassemblyBudget } from "./reassembler.js";
import { ReliableChannel } from "./reliable-channel.js";
import { CMD, DEFAULT_MAX_MESSAGE, MAX_MESSAGE, type RefuseCode } from "./wire-constants.js";

export interface PeerEvents {
  /** Send one datagram to the peer's address. */
  transmit(datagram: Uint8Array): void;
  /** The handshake completed: create the bridge. */
  up(session: NegotiatedSession): void;
  /** A whole message from the peer, for the bridge (frames are views into received datagrams). */
  message(frames: Uint8Array[]): void;
  /** A SUBSCRIBE (true) or CANCEL (false) from the peer, for the bridge (§6). */
  subscription(topic: Uint8Array, subscribe: boolean): void;
  /** The session ended (code: UDP_REFUSED, UDP_PEER_*); the peer is closed. */
  down(error: { code: string; message: string; refuse?: RefuseCode }): void;
  /** A datagram or message was dropped (counted by code; never fatal). */
  dropped?(code: string): void;
}

export interface PeerOptions extends SessionConfig {
  /** This side's session tag for this peer (random non-zero 32-bit, §3). */
  tag: number;
  /** Largest message accepted (default 16 MiB). */
  maxMessageSize?: number;
  /** Reassembly bounds (see Reassembler). */
  maxInFlight?: number;
  maxPeerBytes?: number;
  reassemblyTimeout?: number;
  budget?: ReassemblyBudget;
  /** HELLO retry schedule, ms (default 100 doubling to 1000). */
  helloInitial?: number;
  helloMax?: number;
  /** Tuning passed to the ReliableChannel. */
  rtoInitial?: number;
  rtoMin?: number;
  rtoMax?: number;
  maxRetries?: number;
  ackDelay?: number;
}

export type PeerState = "connecting" | "ready" | "closed";

export class UdpPeer {
  readonly role: "connect" | "accept";
  readonly tag: number;
  #opts: PeerOptions;
  #events: PeerEvents;
  #state: PeerState = "connecting";
  #channel: ReliableChannel;
  #retry: HelloRetry;
  #session: NegotiatedSession | undefined;
  #peerTag = 0;
  #data: Batcher | undefined;
  #subs: Batcher | undefined;
  #reassembler: Reassembler;
  #liveness: Liveness;
  #now = 0;
  #header: DatagramHeader = emptyHeader();
  #sink: DatagramSink;
  #drops = new Map<string, number>();

  private constructor(role: "connect" | "accept", options: PeerOptions, events: PeerEvents, now: number) {
    this.role = role;
    this.tag = options.tag >>> 0;
    this.#opts = options;
    this.#events = events;
    this.#now = now;
    this.#retry = new HelloRetry(options.helloInitial, options.helloMax);
    this.#channel = new ReliableChannel({
      session: this.tag,
      window: options.window,
      rtoInitial: options.rtoInitial,
      rtoMin: options.rtoMin,
      rtoMax: options.rtoMax,
      maxRetries: options.maxRetries,
      ackDelay: options.ackDelay,
      transmit: (dg) => {
        this.#liveness.sent(this.#now);
        events.transmit(dg);
      },
    });
    this.#reassembler = new Reassembler({
      maxMessageSize: options.maxMessageSize,
      maxInFlight: options.maxInFlight,
      maxPeerBytes: options.maxPeerBytes,
      timeout: options.reassemblyTimeout,
      budget: options.budget,
      onDrop: (code) => this.#drop(code),
    });
    // Replaced at the handshake; a connector retries HELLO for as long as it
    // lives, as libzmq reconnects forever.
    this.#liveness = new Liveness(0, Infinity, now);
    this.#sink = {
      message: (frames) => events.message(frames),
      fragment: (msgId, index, count, total, chunk) => {
        const body = this.#reassembler.push(msgId, index, count, total, chunk, this.#now);
        if (body === undefined) return;
        let frames: Uint8Array[];
        try {
          frames = decodeFrames(body);
        } catch (err) {
          this.#drop(err instanceof DecodeError ? err.code : UDP_ERR.BAD_LENGTH);
          return;
        }
        events.message(frames);
      },
      control: (cmd) => this.#control(cmd),
    };
  }

  /** A connecting side: sends its first HELLO now. */
  static connect(options: PeerOptions, events: PeerEvents, now: number): UdpPeer {
    const peer = new UdpPeer("connect", options, events, now);
    peer.#sendHello(now);
    return peer;
  }

  /**
   * An accepting side, from the first datagram of an unknown address: judges
   * the HELLO in it (§3.1) and answers HELLO-OK or REFUSE. Returns undefined
   * (after counting the drop) if the datagram is malformed or holds no HELLO.
   * `busy`: this is a PAIR endpoint that already has a peer.
   */
  static accept(options: PeerOptions, events: PeerEvents, datagram: Uint8Array, now: number, busy = false): UdpPeer | undefined {
    let header: DatagramHeader;
    let hello: HelloCommand | undefined;
    try {
      header = parseDatagram(datagram, { maxMessageSize: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE });
      dispatchCommands(datagram, header.bodyOffset, {
        message() {},
        fragment() {},
        control(cmd) {
          if (cmd.type === "HELLO") hello = cmd;
        },
      });
    } catch (err) {
      events.dropped?.(err instanceof VtxError ? err.code : UDP_ERR.BAD_LENGTH);
      return undefined;
    }
    if (hello === undefined) {
      events.dropped?.(UDP_ERR.NOT_READY);
      return undefined;
    }
    const peer = new UdpPeer("accept", options, events, now);
    const verdict = judgeHello(options, hello, busy);
    if (!verdict.ok) {
      peer.#sendControl([{ type: "REFUSE", code: verdict.code, refusedTag: header.session, reason: verdict.reason }], now);
      peer.#state = "closed";
      return peer;
    }
    peer.#peerTag = header.session;
    // Let the channel see the HELLO so the peer's U sequence has its baseline.
    peer.#channel.receive(header, datagram, now, () => {});
    peer.#ready(verdict.session, now);
    peer.#sendControl([helloFor(options, "HELLO_OK")], now);
    return peer;
  }

  get state(): PeerState {
    return this.#state;
  }

  /** The negotiated session, once ready. */
  get session(): NegotiatedSession | undefined {
    return this.#session;
  }

  /** The peer's session tag (0 until known). */
  get peerTag(): number {
    return this.#peerTag;
  }

  /** May the driver hand over another message? False until ready and while the reliable window is full. */
  get canSend(): boolean {
    return this.#state === "ready" && this.#channel.canSend;
  }

  /** Drops by code, channel and reassembly statistics. */
  get stats(): { drops: Record<string, number>; channel: ReliableChannel["stats"]; reassembly: Reassembler["stats"] } {
    return { drops: Object.fromEntries(this.#drops), channel: this.#channel.stats, reassembly: this.#reassembler.stats };
  }

  /** Queue one message for the peer (call only while {@link canSend}). */
  send(frames: readonly Uint8Array[], now: number): void {
    if (this.#data === undefined || this.#state !== "ready") throw new VtxError(UDP_ERR.NOT_READY, "the session is not ready");
    this.#now = now;
    this.#data.add(frames);
  }

  /** Forward a subscription (SUB/XSUB side, §6): always in a reliable datagram. */
  subscribe(topic: Uint8Array, subscribe: boolean, now: number): void {
    if (this.#subs === undefined || this.#state !== "ready") throw new VtxError(UDP_ERR.NOT_READY, "the session is not ready");
    this.#now = now;
    this.#subs.addControl({ type: subscribe ? "SUBSCRIBE" : "CANCEL", topic });
  }

  /** End of a send burst: emit partly filled datagrams. */
  flush(now: number): void {
    this.#now = now;
    this.#data?.flush();
    if (this.#subs !== this.#data) this.#subs?.flush();
  }

  /** Take a datagram that came from the peer's address. */
  receive(datagram: Uint8Array, now: number): void {
    if (this.#state === "closed") return;
    this.#now = now;
    let header: DatagramHeader;
    try {
      // The size bound is the reassembler's, per message: a FRAGMENT announcing
      // too much must not take down the other messages batched with it (§4).
      header = parseDatagram(datagram, { maxMessageSize: MAX_MESSAGE }, this.#header);
    } catch (err) {
      this.#drop(err instanceof VtxError ? err.code : UDP_ERR.BAD_LENGTH);
      return;
    }
    if (this.#state === "connecting") {
      this.#handshakeReply(header, datagram, now);
      return;
    }
    if (header.session !== this.#peerTag) {
      if (this.role === "accept" && hasHello(datagram, header.bodyOffset)) {
        // §3: a HELLO under a new tag: the peer restarted. The driver makes a
        // new acceptor from this same datagram.
        this.#close({ code: UDP_ERR.PEER_RESTARTED, message: "the peer restarted (new session tag)" });
      } else if (!this.#refusedUs(datagram, header.bodyOffset)) {
        this.#drop(UDP_ERR.STALE_SESSION);
      }
      return;
    }
    this.#liveness.heard(now);
    this.#channel.receive(header, datagram, now, (dg, off) => {
      if (this.#state === "ready") dispatchCommands(dg, off, this.#sink);
    });
  }

  /** Run the timers: HELLO retries, retransmissions, acks, heartbeats, expiry, reassembly timeouts. */
  poll(now: number): void {
    if (this.#state === "closed") return;
    this.#now = now;
    if (this.#state === "connecting") {
      if (this.#retry.deadline <= now) this.#sendHello(now);
      return;
    }
    this.#reassembler.expire(now);
    this.#channel.poll(now);
    if (this.#channel.failed) {
      this.#close({ code: UDP_ERR.PEER_UNREACHABLE, message: "a reliable datagram exhausted its retries" });
      return;
    }
    if (this.#liveness.expired(now)) {
      this.#close({ code: UDP_ERR.PEER_EXPIRED, message: `nothing heard for ${this.#liveness.peerTimeout} ms` });
      return;
    }
    if (this.#liveness.pingDue(now)) this.#sendControl([{ type: "PING", token: this.#liveness.nextToken() }], now);
  }

  /** When {@link poll} has work next, Infinity if never. */
  nextDeadline(): number {
    if (this.#state === "closed") return Infinity;
    if (this.#state === "connecting") return this.#retry.deadline;
    return Math.min(this.#channel.nextDeadline(), this.#liveness.nextDeadline(), this.#reassembler.nextDeadline());
  }

  /** Close from this side: flush, say BYE (§3), release reassembly memory. */
  close(now: number): void {
    if (this.#state === "closed") return;
    this.#now = now;
    if (this.#state === "ready") {
      this.flush(now);
      this.#sendControl([{ type: "BYE" }], now);
    }
    this.#state = "closed";
    this.#reassembler.clear();
  }

  // ---------------------------------------------------------------- internals

  #sendHello(now: number): void {
    this.#sendControl([helloFor(this.#opts, "HELLO")], now);
    this.#retry.sent(now);
  }

  #sendControl(cmds: ControlCommand[], now: number): void {
    this.#now = now;
    this.#channel.send(encodeControlRoom(cmds), false, now);
  }

  #handshakeReply(header: DatagramHeader, datagram: Uint8Array, now: number): void {
    let reply: HelloCommand | undefined;
    let refuse: { code: RefuseCode; reason: string; tag: number } | undefined;
    dispatchCommands(datagram, header.bodyOffset, {
      message() {},
      fragment() {},
      control(cmd) {
        if (cmd.type === "HELLO_OK") reply = cmd;
        else if (cmd.type === "REFUSE") refuse = { code: cmd.code, reason: cmd.reason, tag: cmd.refusedTag };
      },
    });
    if (refuse !== undefined && refuse.tag === this.tag) {
      this.#close({ code: UDP_ERR.REFUSED, message: `refused: ${refuse.reason}`, refuse: refuse.code });
      return;
    }
    if (reply === undefined) {
      // §3: data from an acceptor whose HELLO-OK we missed; our HELLO retry will fetch it.
      this.#drop(UDP_ERR.NOT_READY);
      return;
    }
    this.#peerTag = header.session;
    this.#retry.stop();
    this.#channel.receive(header, datagram, now, () => {});
    this.#ready(negotiate(this.#opts, reply), now);
  }

  #ready(session: NegotiatedSession, now: number): void {
    this.#session = session;
    this.#state = "ready";
    this.#channel.setPeerWindow(session.window);
    // §4: fragments in R datagrams arrive in order and may wait behind RTO
    // backoff longer than the timeout; only plain sessions time them out.
    // (The peer may have asked for reliability when this side did not.)
    if (session.reliable) this.#reassembler.timeout = Infinity;
    this.#liveness = new Liveness(session.heartbeat, session.peerTimeout, now);
    this.#data = new Batcher((room) => this.#channel.send(room, session.reliable, this.#now), {
      maxDatagram: session.maxDatagram,
      reliable: session.reliable,
    });
    // §1: subscriptions always travel reliably; in a reliable session they share the data batcher.
    this.#subs = session.reliable
      ? this.#data
      : new Batcher((room) => this.#channel.send(room, true, this.#now), { maxDatagram: session.maxDatagram, reliable: true });
    this.#events.up(session);
  }

  #control(cmd: ControlCommand): void {
    switch (cmd.type) {
      case "PING":
        this.#sendControl([{ type: "PONG", token: cmd.token }], this.#now);
        return;
      case "PONG":
      case "HELLO_OK":
      case "BEACON":
        return;
      case "HELLO":
        // A retry of the HELLO we accepted (same tag): answer it again (§3).
        if (this.role === "accept") this.#sendControl([helloFor(this.#opts, "HELLO_OK")], this.#now);
        return;
      case "REFUSE":
        if (cmd.refusedTag === this.tag) this.#close({ code: UDP_ERR.REFUSED, message: `refused: ${cmd.reason}`, refuse: cmd.code });
        return;
      case "BYE":
        this.#close({ code: UDP_ERR.PEER_CLOSED, message: "the peer said BYE" });
        return;
      case "SUBSCRIBE":
      case "CANCEL":
        this.#events.subscription(cmd.topic, cmd.type === "SUBSCRIBE");
        return;
    }
  }

  /** A REFUSE aimed at our tag, in a datagram under another tag (e.g. NO-SESSION from a restarted acceptor). */
  #refusedUs(datagram: Uint8Array, bodyOffset: number): boolean {
    let refused: { code: RefuseCode; reason: string } | undefined;
    dispatchCommands(datagram, bodyOffset, {
      message() {},
      fragment() {},
      control: (cmd) => {
        if (cmd.type === "REFUSE" && cmd.refusedTag === this.tag) refused = { code: cmd.code, reason: cmd.reason };
      },
    });
    if (refused === undefined) return false;
    this.#close({ code: UDP_ERR.REFUSED, message: `refused: ${refused.reason}`, refuse: refused.code });
    return true;
  }

  #close(error: { code: string; message: string; refuse?: RefuseCode }): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#reassembler.clear();
    this.#events.down(error);
  }

  #drop(code: string): void {
    this.#drops.set(code, (this.#drops.get(code) ?? 0) + 1);
    this.#events.dropped?.(code);
  }
}

/** Does a checked datagram hold a HELLO? (Cheap scan of command types.) */
function hasHello(datagram: Uint8Array, bodyOffset: number): boolean {
  let off = bodyOffset;
  while (off < datagram.length) {
    if (datagram[off] === CMD.HELLO) return true;
    off += 3 + (((datagram[off + 1] as number) << 8) | (datagram[off + 2] as number));
  }
  return false;
}
