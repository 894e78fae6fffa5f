/**
 * One source's receive window (RFC 3208 §3, §5.3): orders data by sequence
 * number, finds gaps (a sqn skipped by later data, or announced by an SPM's
 * leading edge), NAKs them after a random back-off, waits for the NCF then
 * the RDATA, re-NAKs a bounded number of times, and declares loss when the
 * retries run out or the source's trailing edge passes a gap: the stream
 * then goes on without it instead of stalling. Pure: time comes in as
 * arguments, randomness through `random`.
 */
import { sqnAdd, sqnBefore, sqnDiff } from "./sequence.js";
import { MAX_NAK_LIST } from "./wire-constants.js";

export interface RxWindowOptions {
  /** NAK back-off: a NAK leaves after a random 0..this ms (libzmq: 50). */
  nakBackoff: number;
  /** After a NAK, wait this long for its NCF before NAKing again (libzmq: 200). */
  nakRepeat: number;
  /** After an NCF, wait this long for the RDATA before NAKing again (libzmq: 200). */
  nakRdata: number;
  /** NAKs without an NCF before the data is given up (libzmq: 2). */
  ncfRetries: number;
  /** NCFs without the RDATA before the data is given up (libzmq: 5). */
  dataRetries: number;
  /** Packets the window may run ahead of delivery; data further ahead makes the oldest gaps lost. */
  maxWindow: number;
  random?: () => number;
}

export interface RxWindowSink<T> {
  /** The next item in sequence; false: hold the rest until {@link RxWindow.resume} (the app is behind). */
  deliver(item: T, sqn: number): boolean;
  /** `count` packets from `first` on will never come (unrecoverable loss). */
  lost(first: number, count: number): void;
  /** NAK these sequence numbers (1..63). */
  nak(sqns: number[]): void;
}

type GapState = "backoff" | "wait-ncf" | "wait-data";

/**
 * A timer that fires this much (ms) after its deadline came late (the
 * process was busy or starved): the NCF or RDATA it waited for may be
 * sitting unread in the socket, so it re-checks after I/O instead of
 * counting a failed try.
 */
const LATE_TICK = 20;

interface Gap {
  state: GapState;
  deadline: number;
  ncfs: number;
  datas: number;
}

export class RxWindow<T> {
  readonly #o: Required<RxWindowOptions>;
  readonly #sink: RxWindowSink<T>;
  #defined = false;
  /** Next sqn to deliver. */
  #next = 0;
  /** Highest sqn known to exist (seen or announced). */
  #lead = 0;
  readonly #held = new Map<number, T>();
  readonly #gaps = new Map<number, Gap>();
  readonly #lost = new Set<number>();
  #blocked = false;

  constructor(opts: RxWindowOptions, sink: RxWindowSink<T>) {
    this.#o = { random: Math.random, ...opts };
    this.#sink = sink;
  }

  get defined(): boolean {
    return this.#defined;
  }

  /** The next sqn to deliver. */
  get next(): number {
    return this.#next;
  }

  /** Gaps being recovered. */
  get gaps(): number {
    return this.#gaps.size;
  }

  /** Items held waiting for an earlier gap. */
  get held(): number {
    return this.#held.size;
  }

  /** ODATA or RDATA `sqn` carrying `item`; `trail` is the source's trailing edge. */
  data(sqn: number, trail: number, item: T, now: number): void {
    if (!this.#defined) {
      // Late join (§5.3, OpenPGM's default): nothing before the first data is asked for.
      this.#defined = true;
      this.#next = sqn;
      this.#lead = sqnAdd(sqn, -1);
    }
    if (sqnBefore(sqn, this.#next) || this.#held.has(sqn)) return; // duplicate
    this.#ahead(sqn);
    if (sqnBefore(sqn, this.#next)) return; // a jump made it history
    this.#gaps.delete(sqn);
    this.#lost.delete(sqn);
    this.#held.set(sqn, item);
    this.#gapsUpTo(sqn, now);
    this.#trail(trail);
    this.#flush();
  }

  /** An SPM: `lead` is the source's leading edge, `trail` its trailing edge. */
  spm(lead: number, trail: number, now: number): void {
    if (!this.#defined) {
      // Joining: data up to the lead is history.
      this.#defined = true;
      this.#next = sqnAdd(lead, 1);
      this.#lead = lead;
      return;
    }
    if (sqnDiff(lead, this.#lead) > 0) {
      this.#ahead(lead);
      this.#gapsUpTo(lead, now);
    }
    this.#trail(trail);
    this.#flush();
  }

  /** NCFs confirm NAKs (ours or another receiver's): wait for the repair. */
  ncf(sqns: readonly number[], now: number): void {
    for (const s of sqns) {
      const g = this.#gaps.get(s >>> 0);
      if (g === undefined) continue;
      if (g.state !== "wait-data") g.datas++;
      g.ncfs = 0;
      g.state = "wait-data";
      g.deadline = now + this.#o.nakRdata;
    }
  }

  /** Runs the NAK timers; returns the next deadline (Infinity when none). */
  poll(now: number): number {
    let next = Infinity;
    const due: number[] = [];
    for (const [s, g] of this.#gaps) {
      if (g.deadline <= now) {
        switch (g.state) {
          case "backoff":
            due.push(s);
            g.state = "wait-ncf";
            g.ncfs++;
            g.deadline = now + this.#o.nakRepeat;
            break;
          case "wait-ncf":
          case "wait-data":
            if (now - g.deadline > LATE_TICK) {
              g.deadline = now + 1;
              break;
            }
            if (g.ncfs > this.#o.ncfRetries || g.datas > this.#o.dataRetries) {
              this.#gaps.delete(s);
              this.#lost.add(s);
              continue;
            }
            g.state = "backoff";
            g.deadline = now + this.#o.random() * this.#o.nakBackoff;
            break;
        }
      }
      if (g.deadline < next) next = g.deadline;
    }
    // Oldest first, up to 63 per NAK (one in the body, 62 in OPT_NAK_LIST).
    due.sort((a, b) => sqnDiff(a, b));
    for (let i = 0; i < due.length; i += MAX_NAK_LIST + 1) this.#sink.nak(due.slice(i, i + MAX_NAK_LIST + 1));
    if (this.#lost.size > 0) this.#flush();
    return next;
  }

  /** The sink can take items again: deliver what is held. */
  resume(): void {
    this.#blocked = false;
    this.#flush();
  }

  /** Everything after the lead up to `last` that is not held is a gap; the lead moves to `last`. */
  #gapsUpTo(last: number, now: number): void {
    if (sqnDiff(last, this.#lead) <= 0) return;
    for (let s = sqnAdd(this.#lead, 1); sqnDiff(s, last) <= 0; s = sqnAdd(s, 1)) {
      if (!this.#held.has(s) && !this.#gaps.has(s) && !this.#lost.has(s)) {
        this.#gaps.set(s, { state: "backoff", deadline: now + this.#o.random() * this.#o.nakBackoff, ncfs: 0, datas: 0 });
      }
    }
    this.#lead = last;
  }

  /** Data far ahead: the oldest gaps are given up so the window stays bounded. */
  #ahead(sqn: number): void {
    const floor = sqnAdd(sqn, -(this.#o.maxWindow - 1));
    if (!sqnBefore(this.#next, floor)) return;
    this.#giveUpBefore(floor);
    this.#flush();
    if (sqnBefore(this.#next, floor)) {
      // Still short of the floor: the sink is blocked with the window full. Drop what it has not taken.
      const first = this.#next;
      const n = sqnDiff(floor, first);
      for (let s = first; sqnBefore(s, floor); s = sqnAdd(s, 1)) {
        this.#held.delete(s);
        this.#lost.delete(s);
      }
      this.#next = floor;
      this.#sink.lost(first, n);
    }
  }

  /** §6.3: what the source no longer holds cannot be repaired. */
  #trail(trail: number): void {
    if (sqnBefore(this.#next, trail)) this.#giveUpBefore(trail);
  }

  /** Everything before `edge` not held is lost; a jump beyond the window drops the whole window at once. */
  #giveUpBefore(edge: number): void {
    const distance = sqnDiff(edge, this.#next);
    if (distance > this.#o.maxWindow) {
      const first = this.#next;
      this.#held.clear();
      this.#gaps.clear();
      this.#lost.clear();
      this.#next = edge;
      if (sqnDiff(edge, this.#lead) > 0) this.#lead = sqnAdd(edge, -1);
      this.#sink.lost(first, distance);
      return;
    }
    for (let s = this.#next; sqnBefore(s, edge); s = sqnAdd(s, 1)) {
      if (this.#held.has(s)) continue;
      this.#gaps.delete(s);
      this.#lost.add(s);
    }
    if (sqnDiff(edge, this.#lead) > 0) this.#lead = sqnAdd(edge, -1);
  }

  #flush(): void {
    for (let n = 0; n <= this.#o.maxWindow * 2 && !this.#blocked; n++) {
      const s = this.#next;
      const item = this.#held.get(s);
      if (item !== undefined) {
        this.#held.delete(s);
        this.#next = sqnAdd(s, 1);
        if (!this.#sink.deliver(item, s)) this.#blocked = true;
        continue;
      }
      if (this.#lost.delete(s)) {
        let n = 1;
        while (this.#lost.delete(sqnAdd(s, n))) n++;
        this.#next = sqnAdd(s, n);
        this.#sink.lost(s, n);
        continue;
      }
      break;
    }
  }
}
