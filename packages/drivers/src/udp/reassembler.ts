/**
 * Reassembles fragmented messages (docs/protocols/udp.md §4) for one peer.
 * Fragments may arrive in any order and more than once; a message is
 * delivered only when every chunk is present, never half. Memory is bounded,
 * counting each partial message at its announced total from its first
 * fragment (so a started message never loses its room to a later one):
 * at most `maxInFlight` partial messages and `maxPeerBytes` octets for this
 * peer (a new message evicts this peer's oldest), plus a {@link ReassemblyBudget}
 * shared by all the peers of a socket (a message that would exceed it is
 * dropped, so one peer cannot push out another's). A partial message that
 * makes no progress for `timeout` ms is dropped. Every drop is counted by code.
 * Pure: time is passed in.
 */
import { UDP_ERR } from "./codec-errors.js";
import { checkFragmentFields } from "./codec.js";
import { DEFAULT_MAX_MESSAGE } from "./wire-constants.js";

/** Octets of partial messages across all the peers of one socket. */
export class ReassemblyBudget {
  readonly limit: number;
  #used = 0;
  constructor(limit = 64 * 1024 * 1024) {
    this.limit = limit;
  }
  get used(): number {
    return this.#used;
  }
  /** Reserve `n` octets if they fit. */
  tryTake(n: number): boolean {
    if (this.#used + n > this.limit) return false;
    this.#used += n;
    return true;
  }
  release(n: number): void {
    this.#used -= n;
  }
}

export interface ReassemblerOptions {
  /** Largest message (default 16 MiB). */
  maxMessageSize?: number;
  /** Partial messages kept for this peer (default 8). */
  maxInFlight?: number;
  /** Octets of partial messages for this peer (default 2 × maxMessageSize). */
  maxPeerBytes?: number;
  /**
   * Drop a partial message after this long without a new fragment, ms
   * (default 1000). Use Infinity for a reliable session (§4): its fragments
   * arrive in order and may wait longer than this behind RTO backoff.
   */
  timeout?: number;
  /** Shared budget (default: a private one of 64 MiB). */
  budget?: ReassemblyBudget;
  /** Told of every drop as it is counted (the driver reports drops to the application). */
  onDrop?: (code: ReassemblyDropCode) => void;
}

export type ReassemblyDropCode =
  | typeof UDP_ERR.FRAGMENT_TIMEOUT
  | typeof UDP_ERR.FRAGMENT_EVICTED
  | typeof UDP_ERR.FRAGMENT_OVER_BUDGET
  | typeof UDP_ERR.FRAGMENT_INCONSISTENT
  | typeof UDP_ERR.TOO_LARGE
  | typeof UDP_ERR.BAD_FRAGMENT;

export interface ReassemblerStats {
  completed: number;
  /** Fragments ignored because that chunk was already present. */
  duplicates: number;
  /** Fragments of a message already completed or dropped recently (ignored). */
  stale: number;
  /** Partial messages (or fragments, for BAD_FRAGMENT / TOO_LARGE) dropped, by code. */
  dropped: Record<ReassemblyDropCode, number>;
  inFlight: number;
  bytesInFlight: number;
}

interface Partial {
  msgId: number;
  count: number;
  total: number;
  /** Chunk size S. */
  size: number;
  /**
   * Chunks received, by index: views, not copies. Nothing is allocated for
   * the body until the last chunk arrives, so a flood of fragment starts
   * announcing 16 MiB each costs neither memory nor CPU.
   */
  chunks: Map<number, Uint8Array>;
  deadline: number;
}

/** Remembered ids of finished messages, so late duplicates do not restart one. */
const RECENT = 64;

export class Reassembler {
  readonly maxMessageSize: number;
  readonly maxInFlight: number;
  readonly maxPeerBytes: number;
  /** Partial-message timeout, ms; a session that turns out reliable sets Infinity (§4). */
  timeout: number;
  #budget: ReassemblyBudget;
  #onDrop: ((code: ReassemblyDropCode) => void) | undefined;
  /** In insertion order = oldest first (Map iteration order). */
  #partials = new Map<number, Partial>();
  #bytes = 0;
  #recent: number[] = new Array<number>(RECENT).fill(-1);
  #recentSet = new Set<number>();
  #recentAt = 0;
  #completed = 0;
  #duplicates = 0;
  #stale = 0;
  #dropped: Record<ReassemblyDropCode, number> = {
    [UDP_ERR.FRAGMENT_TIMEOUT]: 0,
    [UDP_ERR.FRAGMENT_EVICTED]: 0,
    [UDP_ERR.FRAGMENT_OVER_BUDGET]: 0,
    [UDP_ERR.FRAGMENT_INCONSISTENT]: 0,
    [UDP_ERR.TOO_LARGE]: 0,
    [UDP_ERR.BAD_FRAGMENT]: 0,
  };

  constructor(options: ReassemblerOptions = {}) {
    this.maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE;
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 8);
    this.maxPeerBytes = options.maxPeerBytes ?? 2 * this.maxMessageSize;
    this.timeout = options.timeout ?? 1000;
    this.#budget = options.budget ?? new ReassemblyBudget();
    this.#onDrop = options.onDrop;
  }

  #count(code: ReassemblyDropCode): void {
    this.#dropped[code]++;
    this.#onDrop?.(code);
  }

  get stats(): ReassemblerStats {
    return {
      completed: this.#completed,
      duplicates: this.#duplicates,
      stale: this.#stale,
      dropped: { ...this.#dropped },
      inFlight: this.#partials.size,
      bytesInFlight: this.#bytes,
    };
  }

  /** Total partial messages dropped, all codes. */
  get droppedTotal(): number {
    let n = 0;
    for (const v of Object.values(this.#dropped)) n += v;
    return n;
  }

  /**
   * Take one fragment. Returns the message body (the `frames` encoding, to be
   * decoded with `decodeFrames`) when this fragment completes it, else
   * undefined. The reassembler keeps `chunk` (a view) until the message
   * completes or is dropped: the caller must not overwrite its bytes (a
   * datagram from `dgram` is a fresh buffer, so that holds).
   */
  push(msgId: number, index: number, count: number, total: number, chunk: Uint8Array, now: number): Uint8Array | undefined {
    this.expire(now);
    if (total > this.maxMessageSize || total > this.maxPeerBytes) {
      this.#count(UDP_ERR.TOO_LARGE);
      return undefined;
    }
    try {
      checkFragmentFields(index, count, total, chunk.length);
    } catch {
      this.#count(UDP_ERR.BAD_FRAGMENT);
      return undefined;
    }
    // S from this fragment (§4): its own length unless it is the last.
    const size = index < count - 1 || count === 1 ? chunk.length : (total - chunk.length) / (count - 1);
    let p = this.#partials.get(msgId);
    if (p === undefined) {
      if (this.#recentSet.has(msgId)) {
        this.#stale++;
        return undefined;
      }
      if (count === 1) {
        this.#completed++;
        this.#remember(msgId);
        return chunk;
      }
      p = this.#start(msgId, count, total, size, now);
      if (p === undefined) return undefined;
    } else if (p.count !== count || p.total !== total || p.size !== size) {
      this.#drop(p, UDP_ERR.FRAGMENT_INCONSISTENT);
      return undefined;
    }
    if (p.chunks.has(index)) {
      this.#duplicates++;
      return undefined;
    }
    p.chunks.set(index, chunk);
    p.deadline = now + this.timeout;
    if (p.chunks.size < p.count) return undefined;
    this.#release(p);
    this.#completed++;
    this.#remember(msgId);
    // Not zero-filled: the per-fragment checks (same S, last = total − S ×
    // (count − 1)) make the chunks cover the body exactly.
    const body = Buffer.allocUnsafeSlow(total);
    for (const [i, c] of p.chunks) body.set(c, i * size);
    return new Uint8Array(body.buffer, body.byteOffset, total);
  }

  #start(msgId: number, count: number, total: number, size: number, now: number): Partial | undefined {
    // Per-peer bounds: evict this peer's oldest partials to make room.
    for (const old of this.#partials.values()) {
      if (this.#partials.size < this.maxInFlight && this.#bytes + total <= this.maxPeerBytes) break;
      this.#drop(old, UDP_ERR.FRAGMENT_EVICTED);
    }
    if (!this.#budget.tryTake(total)) {
      this.#count(UDP_ERR.FRAGMENT_OVER_BUDGET);
      this.#remember(msgId);
      return undefined;
    }
    const p: Partial = {
      msgId,
      count,
      total,
      size,
      chunks: new Map(),
      deadline: now + this.timeout,
    };
    this.#partials.set(msgId, p);
    this.#bytes += total;
    return p;
  }

  #release(p: Partial): void {
    this.#partials.delete(p.msgId);
    this.#bytes -= p.total;
    this.#budget.release(p.total);
  }

  #drop(p: Partial, code: ReassemblyDropCode): void {
    this.#release(p);
    this.#count(code);
    // Later fragments of a dropped message must not start it again.
    this.#remember(p.msgId);
  }

  #remember(msgId: number): void {
    const old = this.#recent[this.#recentAt] as number;
    if (old !== -1) this.#recentSet.delete(old);
    this.#recent[this.#recentAt] = msgId;
    this.#recentSet.add(msgId);
    this.#recentAt = (this.#recentAt + 1) % RECENT;
  }

  /** Drop partial messages past their deadline; returns how many were dropped. */
  expire(now: number): number {
    let n = 0;
    for (const p of this.#partials.values()) {
      if (p.deadline <= now) {
        this.#drop(p, UDP_ERR.FRAGMENT_TIMEOUT);
        n++;
      }
    }
    return n;
  }

  /** Earliest deadline of a partial message, Infinity if none. */
  nextDeadline(): number {
    let d = Infinity;
    for (const p of this.#partials.values()) if (p.deadline < d) d = p.deadline;
    return d;
  }

  /** Drop everything (session ended) and give the budget back; not counted as drops. */
  clear(): void {
    for (const p of this.#partials.values()) this.#budget.release(p.total);
    this.#partials.clear();
    this.#bytes = 0;
  }
}
