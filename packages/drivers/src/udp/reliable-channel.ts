/**
 * Sequencing and reliability for one session (docs/protocols/udp.md §5).
 *
 * Every datagram of a session passes through its channel, both ways:
 *
 * - **Sending**: {@link ReliableChannel.send} seals an unsealed datagram (from
 *   a Batcher or `encodeControlRoom`) with the next sequence number of its
 *   class and, when an acknowledgement is owed, an ack block, then hands it to
 *   `transmit`. Unreliable (U) datagrams go at once. Reliable (R) datagrams go
 *   while fewer than `window` are unacknowledged and wait in a backlog
 *   otherwise; they are kept until acknowledged. Retransmission follows
 *   RFC 6298: one timer, restarted whenever an ack makes progress, RTO from
 *   the smoothed RTT, doubled on each expiry. RTT is timed on one datagram
 *   at a time and the sample discarded if anything was retransmitted
 *   meanwhile (Karn): a cumulative ack that closes a hole also covers
 *   datagrams received long before, which would inflate the estimate.
 *   On expiry the sender resends what the peer could have told it about but
 *   did not: the unacknowledged datagrams within the ack mask's reach of the
 *   oldest (33), not the whole window, since the receiver buffers what lies
 *   beyond. A datagram is also resent at once when one at least
 *   `reorderThreshold` later is selectively acknowledged (fast retransmit).
 * - **Receiving**: {@link ReliableChannel.receive} takes a datagram whose
 *   header was read (and whose commands were checked), applies its ack block,
 *   drops duplicates (both classes), and delivers R datagrams in order,
 *   exactly once, buffering up to `window` out-of-order ones.
 * - **Timers**: {@link ReliableChannel.poll} retransmits what is due and sends
 *   a bare acknowledgement when one is owed and nothing carried it;
 *   {@link ReliableChannel.nextDeadline} says when to call it next.
 *
 * Plain mode is the same channel with data sent in U datagrams: sequence
 * numbers only (duplicates dropped, gaps counted), no acks or retransmission;
 * whole-message loss for fragmented messages is the Reassembler's job.
 * Pure: no I/O but the `transmit` callback, time passed in.
 */
import type { DatagramHeader } from "./header.js";
import { emptyRoom, sealDatagram } from "./header.js";
import { seqAdd, seqDiff } from "./sequence.js";

export interface ReliableChannelOptions {
  /** This side's session tag, written into every datagram (§3). */
  session: number;
  /** Sends one sealed datagram to the peer (retransmissions and bare acks included). */
  transmit: (datagram: Uint8Array) => void;
  /** R datagrams kept unacknowledged / buffered out of order (1..32768, default 256). */
  window?: number;
  /** Initial retransmission timeout, ms (default 100). */
  rtoInitial?: number;
  /** Bounds of the retransmission timeout, ms (default 10 .. 2000). */
  rtoMin?: number;
  rtoMax?: number;
  /** Consecutive timer expiries without progress before the channel fails (default 50). */
  maxRetries?: number;
  /**
   * Longest wait before acknowledging in-order R datagrams, ms (default 5,
   * half the minimum RTO). A reply usually carries the ack long before; the
   * wait only matters for the last datagram of a burst. It was 1 ms: the
   * endpoint timer then woke the worker about every millisecond during
   * request/reply traffic, chasing acks that the replies were about to carry,
   * and that cost 12–17 µs of worker CPU per round trip (measured).
   */
  ackDelay?: number;
  /** Acknowledge at once after this many unacknowledged in-order R datagrams (default 2). */
  ackEvery?: number;
  /** Fast retransmit once a datagram this much later is selectively acked (default 3). */
  reorderThreshold?: number;
  /**
   * First R sequence number, sent and expected (default 0 as §5 says; both
   * sides must agree). Exists to test wrap-around at 2^32.
   */
  initialSeq?: number;
}

/** What {@link ReliableChannel.receive} did with a datagram. */
export type ReceiveOutcome =
  /** Delivered (with any buffered successors, for R). */
  | "delivered"
  /** R, ahead of a gap: buffered until the gap fills. */
  | "buffered"
  /** Already received: dropped. */
  | "duplicate"
  /** R, beyond the receive window: dropped. */
  | "outside-window"
  /** U, older than the 64 newest: dropped. */
  | "late";

/** Receives datagrams in delivery order; commands start at `bodyOffset`. */
export type DeliverFn = (datagram: Uint8Array, bodyOffset: number) => void;

export interface ReliableChannelStats {
  sentReliable: number;
  sentUnreliable: number;
  retransmits: number;
  fastRetransmits: number;
  bareAcks: number;
  /** Ack blocks ignored because they acknowledged datagrams never sent. */
  bogusAcks: number;
  delivered: number;
  duplicates: number;
  outsideWindow: number;
  late: number;
  /** U datagrams that have not arrived (gaps in the U sequence). */
  lost: number;
  srtt: number;
  rto: number;
  inFlight: number;
  backlog: number;
}

/** Datagrams the U-class duplicate filter remembers (§5). */
const U_WINDOW = 64;
/** Bits in an ack-mask (§2). */
const MASK_BITS = 32;

export class ReliableChannel {
  readonly session: number;
  readonly window: number;
  /** Ring slots: a power of two >= window, so slots stay distinct across 2^32 wrap. */
  #mask: number;
  #transmit: (datagram: Uint8Array) => void;
  #rtoMin: number;
  #rtoMax: number;
  #maxRetries: number;
  #ackDelay: number;
  #ackEvery: number;
  #reorder: number;

  // ---- send side (R)
  #peerWindow: number;
  #sndUna = 0;
  #sndNxt = 0;
  #sBuf: (Uint8Array | undefined)[];
  #sSent: Float64Array;
  #sAcked: Uint8Array;
  #backlog: (Uint8Array | undefined)[] = [];
  #backlogHead = 0;
  #srtt = 0;
  #rttvar = 0;
  #rto: number;
  /** The one retransmission timer (RFC 6298 §5), Infinity when nothing is in flight. */
  #timer = Infinity;
  /** The datagram being timed for an RTT sample, if any. */
  #rttSeq = 0;
  #rttStart = -1;
  #backoffs = 0;
  #failed = false;
  #uNxt = 0;

  // ---- receive side (R)
  #rcvNxt = 0;
  #rBuf: (Uint8Array | undefined)[];
  #rOff: Int32Array;
  #ackOwed = false;
  #ackDue = Infinity;
  #unacked = 0;

  // ---- receive side (U)
  #uAny = false;
  #uHigh = 0;
  #uSeen: Float64Array;

  #stats = {
    sentReliable: 0,
    sentUnreliable: 0,
    retransmits: 0,
    fastRetransmits: 0,
    bareAcks: 0,
    bogusAcks: 0,
    delivered: 0,
    duplicates: 0,
    outsideWindow: 0,
    late: 0,
    lost: 0,
  };

  constructor(options: ReliableChannelOptions) {
    this.session = options.session >>> 0;
    this.#transmit = options.transmit;
    const w = options.window ?? 256;
    if (!Number.isInteger(w) || w < 1 || w > 32768) throw new RangeError(`window ${w} is outside 1..32768`);
    this.window = w;
    this.#peerWindow = w;
    let ring = 1;
    while (ring < w) ring *= 2;
    this.#mask = ring - 1;
    this.#rto = options.rtoInitial ?? 100;
    this.#rtoMin = options.rtoMin ?? 10;
    this.#rtoMax = options.rtoMax ?? 2000;
    this.#maxRetries = options.maxRetries ?? 50;
    this.#ackDelay = options.ackDelay ?? 5;
    this.#ackEvery = Math.max(1, options.ackEvery ?? 2);
    this.#reorder = Math.max(1, options.reorderThreshold ?? 3);
    const first = (options.initialSeq ?? 0) >>> 0;
    this.#sndUna = first;
    this.#sndNxt = first;
    this.#rcvNxt = first;
    this.#sBuf = new Array<Uint8Array | undefined>(ring).fill(undefined);
    this.#sSent = new Float64Array(ring);
    this.#sAcked = new Uint8Array(ring);
    this.#rBuf = new Array<Uint8Array | undefined>(ring).fill(undefined);
    this.#rOff = new Int32Array(ring);
    this.#uSeen = new Float64Array(U_WINDOW).fill(-1);
  }

  /** §3: use min(own window, the peer's announced window) for sending. */
  setPeerWindow(window: number): void {
    this.#peerWindow = Math.max(1, Math.min(this.window, window));
  }

  /** R datagrams sent and not yet acknowledged. */
  get inFlight(): number {
    return seqDiff(this.#sndNxt, this.#sndUna);
  }

  /** R datagrams waiting for the window to open. */
  get backlog(): number {
    return this.#backlog.length - this.#backlogHead;
  }

  /**
   * May the driver take more messages for the reliable class? False while the
   * window is full or a backlog waits: stop reading the bridge, so the
   * application socket's HWM applies.
   */
  get canSend(): boolean {
    return this.backlog === 0 && this.inFlight < this.#peerWindow;
  }

  /** A datagram exhausted its retries: the peer is gone. */
  get failed(): boolean {
    return this.#failed;
  }

  get stats(): ReliableChannelStats {
    return { ...this.#stats, srtt: this.#srtt, rto: this.#rto, inFlight: this.inFlight, backlog: this.backlog };
  }

  /** Seal and transmit (or, for R with a full window, queue) one unsealed datagram. */
  send(room: Uint8Array, reliable: boolean, now: number): void {
    if (!reliable) {
      const seq = this.#uNxt;
      this.#uNxt = seqAdd(seq, 1);
      this.#stats.sentUnreliable++;
      this.#transmit(this.#seal(room, false, seq));
      return;
    }
    if (this.canSend) this.#sendReliable(room, now);
    else this.#backlog.push(room);
  }

  #sendReliable(room: Uint8Array, now: number): void {
    const seq = this.#sndNxt;
    this.#sndNxt = seqAdd(seq, 1);
    const slot = seq & this.#mask;
    const dg = this.#seal(room, true, seq);
    this.#sBuf[slot] = dg;
    this.#sSent[slot] = now;
    if (this.#timer === Infinity) this.#timer = now + this.#rto;
    if (this.#rttStart < 0) {
      this.#rttSeq = seq;
      this.#rttStart = now;
    }
    this.#sAcked[slot] = 0;
    this.#stats.sentReliable++;
    this.#transmit(dg);
  }

  #seal(room: Uint8Array, reliable: boolean, seq: number): Uint8Array {
    if (this.#ackOwed) {
      this.#ackOwed = false;
      this.#ackDue = Infinity;
      this.#unacked = 0;
      return sealDatagram(room, reliable, this.session, seq, true, this.#rcvNxt, this.#ackMask());
    }
    return sealDatagram(room, reliable, this.session, seq, false);
  }

  #ackMask(): number {
    let mask = 0;
    const n = Math.min(MASK_BITS, this.window - 1);
    for (let i = 0; i < n; i++) {
      if (this.#rBuf[(this.#rcvNxt + 1 + i) & this.#mask] !== undefined) mask |= 1 << i;
    }
    return mask >>> 0;
  }

  /**
   * Take a received datagram of this session (header already read, commands
   * already checked with parseDatagram). Applies its ack block, then delivers
   * it (and, for R, any buffered successors) through `deliver`, or drops it.
   */
  receive(header: DatagramHeader, datagram: Uint8Array, now: number, deliver: DeliverFn): ReceiveOutcome {
    if (header.hasAck) this.#onAck(header.ackNext, header.ackMask, now);
    return header.reliable ? this.#receiveReliable(header.seq, datagram, header.bodyOffset, now, deliver) : this.#receiveUnreliable(header.seq, datagram, header.bodyOffset, deliver);
  }

  #receiveUnreliable(seq: number, dg: Uint8Array, bodyOffset: number, deliver: DeliverFn): ReceiveOutcome {
    const slot = seq % U_WINDOW;
    if (!this.#uAny) {
      this.#uAny = true;
      this.#uHigh = seq;
    } else {
      const d = seqDiff(seq, this.#uHigh);
      if (d > 0) {
        this.#stats.lost += d - 1;
        this.#uHigh = seq;
      } else if (-d >= U_WINDOW) {
        this.#stats.late++;
        return "late";
      } else if (this.#uSeen[slot] === seq) {
        this.#stats.duplicates++;
        return "duplicate";
      } else {
        // Reordered: it was counted as lost when a later one arrived.
        this.#stats.lost--;
      }
    }
    this.#uSeen[slot] = seq;
    this.#stats.delivered++;
    deliver(dg, bodyOffset);
    return "delivered";
  }

  #receiveReliable(seq: number, dg: Uint8Array, bodyOffset: number, now: number, deliver: DeliverFn): ReceiveOutcome {
    const d = seqDiff(seq, this.#rcvNxt);
    this.#ackOwed = true;
    if (d < 0) {
      // The sender missed our ack: acknowledge again at once.
      this.#stats.duplicates++;
      this.#ackDue = now;
      return "duplicate";
    }
    if (d >= this.window) {
      this.#stats.outsideWindow++;
      this.#ackDue = now;
      return "outside-window";
    }
    const slot = seq & this.#mask;
    if (this.#rBuf[slot] !== undefined) {
      this.#stats.duplicates++;
      this.#ackDue = now;
      return "duplicate";
    }
    if (d > 0) {
      this.#rBuf[slot] = dg;
      this.#rOff[slot] = bodyOffset;
      // Out of order: tell the sender now so it can fast-retransmit.
      this.#ackDue = now;
      return "buffered";
    }
    this.#rcvNxt = seqAdd(this.#rcvNxt, 1);
    this.#stats.delivered++;
    deliver(dg, bodyOffset);
    let filledGap = false;
    for (;;) {
      const s = this.#rcvNxt & this.#mask;
      const next = this.#rBuf[s];
      if (next === undefined) break;
      this.#rBuf[s] = undefined;
      this.#rcvNxt = seqAdd(this.#rcvNxt, 1);
      this.#stats.delivered++;
      filledGap = true;
      deliver(next, this.#rOff[s] as number);
    }
    // Again after delivering: a reply sent from inside `deliver` may have
    // carried an ack that predates the later deliveries.
    this.#ackOwed = true;
    this.#unacked++;
    if (filledGap || this.#unacked >= this.#ackEvery) this.#ackDue = now;
    else if (this.#ackDue === Infinity) this.#ackDue = now + this.#ackDelay;
    return "delivered";
  }

  #onAck(next: number, mask: number, now: number): void {
    if (seqDiff(next, this.#sndNxt) > 0) {
      this.#stats.bogusAcks++;
      return;
    }
    const m = this.#mask;
    const timing = this.#rttStart >= 0;
    const timedSeq = this.#rttSeq;
    let timedAcked = false;
    // Cumulative part.
    const progress = seqDiff(next, this.#sndUna) > 0;
    while (seqDiff(next, this.#sndUna) > 0) {
      const slot = this.#sndUna & m;
      if (this.#sndUna === timedSeq) timedAcked = true;
      this.#sBuf[slot] = undefined;
      this.#sAcked[slot] = 0;
      this.#sndUna = seqAdd(this.#sndUna, 1);
    }
    // Selective part: bit i = next + 1 + i.
    let highest = -1;
    for (let i = 0; mask !== 0 && i < MASK_BITS; i++, mask >>>= 1) {
      if ((mask & 1) === 0) continue;
      const s = seqAdd(next, 1 + i);
      if (seqDiff(s, this.#sndUna) < 0 || seqDiff(s, this.#sndNxt) >= 0) continue;
      const slot = s & m;
      highest = i + 1;
      if (this.#sAcked[slot] !== 0) continue;
      if (s === timedSeq) timedAcked = true;
      // Receivers never renege (§5): the bytes can go.
      this.#sAcked[slot] = 1;
      this.#sBuf[slot] = undefined;
    }
    if (timing && timedAcked) {
      this.#rttSample(now - this.#rttStart);
      this.#rttStart = -1;
    }
    if (progress) {
      // RFC 6298 §5.2/5.3: stop or restart the timer on new acknowledgement.
      this.#backoffs = 0;
      this.#timer = this.inFlight > 0 ? now + this.#rto : Infinity;
    }
    if (highest > 0) this.#fastRetransmit(seqAdd(next, highest), now);
    this.#drainBacklog(now);
  }

  /** §5: retransmit every unacked datagram at least `reorderThreshold` before `highest`. */
  #fastRetransmit(highest: number, now: number): void {
    const m = this.#mask;
    const minGap = this.#srtt > 0 ? this.#srtt : this.#rto;
    for (let s = this.#sndUna; seqDiff(highest, s) >= this.#reorder; s = seqAdd(s, 1)) {
      const slot = s & m;
      const dg = this.#sBuf[slot];
      if (dg === undefined || this.#sAcked[slot] !== 0) continue;
      if (now - (this.#sSent[slot] as number) < minGap) continue;
      this.#stats.fastRetransmits++;
      this.#retransmit(slot, dg, now);
    }
  }

  #retransmit(slot: number, dg: Uint8Array, now: number): void {
    this.#sSent[slot] = now;
    this.#stats.retransmits++;
    // Karn: a sample spanning a retransmission is ambiguous.
    this.#rttStart = -1;
    // The same bytes: a stale ack block in them is harmless (acks only move forward).
    this.#transmit(dg);
  }

  #rttSample(r: number): void {
    // RFC 6298 §2.
    if (this.#srtt === 0) {
      this.#srtt = Math.max(r, 0.001);
      this.#rttvar = r / 2;
    } else {
      this.#rttvar = 0.75 * this.#rttvar + 0.25 * Math.abs(this.#srtt - r);
      this.#srtt = 0.875 * this.#srtt + 0.125 * r;
    }
    this.#rto = Math.min(this.#rtoMax, Math.max(this.#rtoMin, this.#srtt + Math.max(1, 4 * this.#rttvar)));
  }

  #drainBacklog(now: number): void {
    while (this.#backlogHead < this.#backlog.length && this.inFlight < this.#peerWindow) {
      const room = this.#backlog[this.#backlogHead] as Uint8Array;
      this.#backlog[this.#backlogHead++] = undefined;
      this.#sendReliable(room, now);
    }
    if (this.#backlogHead === this.#backlog.length) {
      this.#backlog.length = 0;
      this.#backlogHead = 0;
    }
  }

  /**
   * Run the timers: retransmit datagrams whose RTO expired, and send a bare
   * acknowledgement if one is due (call after flushing the batchers, so an
   * ack can ride on data instead).
   */
  poll(now: number): void {
    if (this.#timer <= now && !this.#failed) {
      if (++this.#backoffs > this.#maxRetries) {
        this.#failed = true;
        this.#timer = Infinity;
      } else {
        const m = this.#mask;
        const reach = seqAdd(this.#sndUna, 1 + MASK_BITS);
        for (let s = this.#sndUna; seqDiff(this.#sndNxt, s) > 0 && seqDiff(reach, s) > 0; s = seqAdd(s, 1)) {
          const slot = s & m;
          const dg = this.#sBuf[slot];
          if (dg !== undefined && this.#sAcked[slot] === 0) this.#retransmit(slot, dg, now);
        }
        // RFC 6298 §5.5-5.6: back off and restart.
        this.#rto = Math.min(this.#rtoMax, this.#rto * 2);
        this.#timer = now + this.#rto;
      }
    }
    if (this.#ackOwed && this.#ackDue <= now) {
      this.#stats.bareAcks++;
      this.send(emptyRoom(), false, now);
    }
  }

  /** When {@link poll} has work next (a retransmission or an ack), Infinity if never. */
  nextDeadline(): number {
    const ack = this.#ackOwed ? this.#ackDue : Infinity;
    return this.#failed ? ack : Math.min(ack, this.#timer);
  }
}
