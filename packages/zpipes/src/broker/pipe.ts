import { CHUNK_DATA_OFFSET, writeReadOkHeader } from "../codec/index.js";

/**
 * One end of a pipe: a local client session, or (later) a cluster bridge that
 * stands for a reader or writer on another broker.
 *
 * The pipe calls {@link PipeEnd.pipeChanged} synchronously whenever something
 * the ends may care about changed: data queued, room freed, the other end
 * attached or left. Calls never nest: a change made from inside
 * `pipeChanged` is reported after the current round of notifications.
 */
export interface PipeEnd {
  /** Short label for logs ("client 00a1b2c3", "peer 5c1e.../writer"). */
  readonly label: string;
  pipeChanged(pipe: Pipe): void;
  /**
   * Only for a reader end that stands for a reader on another broker (a
   * cluster bridge): calls `cb` once everything the writer wrote is on that
   * broker (null), or with the reason it never will be. The writer's CLOSE
   * is answered then, so CLOSE_OK means delivered.
   */
  whenDelivered?(cb: (failure: string | null) => void): void;
}

/** Where an end stands: never attached, attached, or gone (closed/expired/dropped). */
export type EndState = "none" | "attached" | "gone";

interface Entry {
  /** The chunk's bytes from `off` on are unread. */
  buf: Buffer;
  off: number;
  /**
   * True while the 7 octets before `buf[off]` are ours to overwrite: a WRITE
   * frame's header (signature, id, length) sits right before its chunk, and
   * READ_OK needs exactly that much header, so the chunk leaves as a READ_OK
   * without moving. False once part of the entry has been sent (that region
   * may still be in flight, zero-copy) and for chunks without such headroom.
   */
  headroom: boolean;
}

export interface PipeOptions {
  /** Per-pipe byte budget: the queue accepts a chunk only while it stays within it. */
  budget: number;
  /** Called with +n / -n as bytes enter and leave the queue (broker-wide accounting). */
  account?: (delta: number) => void;
  /**
   * Called with each chunk dropped whole from the queue (the reader left):
   * nothing refers to its bytes any more. Chunks partly read are not
   * reported (their first bytes may still be on their way out).
   */
  discarded?: (chunk: Buffer) => void;
}

let nextPipeId = 1;

/**
 * A named pipe: one reader end, one writer end, a FIFO of chunks bounded by a
 * byte budget.
 *
 * Flow control: {@link canAccept} says whether a chunk of a given size fits.
 * The budget is raised to the size a pending reader waits for, so a READ larger
 * than the budget can always complete, and an empty queue always takes one
 * chunk, and so does a pipe whose reader waits for more than is queued, so
 * a chunk larger than the room left is never stuck. The pipe holds at most
 * max(budget, wanted) + one chunk.
 */
export class Pipe {
  readonly id = nextPipeId++;
  readonly name: string;
  readonly budget: number;
  #reader: PipeEnd | null = null;
  #writer: PipeEnd | null = null;
  #readerState: EndState = "none";
  #writerState: EndState = "none";
  #writerFailure: string | null = null;
  #q: Entry[] = [];
  #head = 0;
  #queued = 0;
  /** Bytes the reader is waiting for (its pending READ size), 0 if none. */
  #wanted = 0;
  #notifying = false;
  #dirty = false;
  #account: ((delta: number) => void) | undefined;
  #discarded: ((chunk: Buffer) => void) | undefined;
  /** Set by the registry: called once both ends are settled and nothing is left to do. */
  onDetached: ((pipe: Pipe, side: "reader" | "writer") => void) | undefined;

  constructor(name: string, options: PipeOptions) {
    this.name = name;
    this.budget = options.budget;
    this.#account = options.account;
    this.#discarded = options.discarded;
  }

  get reader(): PipeEnd | null {
    return this.#reader;
  }
  get writer(): PipeEnd | null {
    return this.#writer;
  }
  get readerState(): EndState {
    return this.#readerState;
  }
  get writerState(): EndState {
    return this.#writerState;
  }
  /** Why the writer is gone, when it went by failure (see {@link failWriter}); null otherwise. */
  get writerFailure(): string | null {
    return this.#writerFailure;
  }
  /** Bytes queued and not yet read. */
  get queued(): number {
    return this.#queued;
  }

  // ── ends ────────────────────────────────────────────────────────────────

  /** Attach a reader; false if the pipe already has (or had) one. */
  attachReader(end: PipeEnd): boolean {
    if (this.#readerState !== "none") return false;
    this.#reader = end;
    this.#readerState = "attached";
    this.#notify();
    return true;
  }

  /** Attach a writer; false if the pipe already has (or had) one. */
  attachWriter(end: PipeEnd): boolean {
    if (this.#writerState !== "none") return false;
    this.#writer = end;
    this.#writerState = "attached";
    this.#notify();
    return true;
  }

  /** The reader left: queued data is dropped, the writer's further writes fail. */
  detachReader(): void {
    if (this.#readerState === "gone") return;
    this.#readerState = "gone";
    this.#reader = null;
    this.#wanted = 0;
    this.#drop();
    this.onDetached?.(this, "reader");
    this.#notify();
  }

  /** The writer left: the reader keeps what is queued, then sees the end. */
  detachWriter(): void {
    if (this.#writerState === "gone") return;
    this.#writerState = "gone";
    this.#writer = null;
    this.onDetached?.(this, "writer");
    this.#notify();
  }

  /**
   * The writer is gone by failure (e.g. its broker died, seen by a cluster
   * bridge): the reader drains what is queued, then gets READ_FAILED with
   * `reason` instead of READ_END, so a lost tail is never taken for an end.
   */
  failWriter(reason: string): void {
    if (this.#writerState === "gone") return;
    this.#writerFailure = reason;
    this.detachWriter();
  }

  // ── writer side ─────────────────────────────────────────────────────────

  /** Whether a chunk of `length` bytes may be pushed now (reader attached and room). */
  canAccept(length: number): boolean {
    if (this.#readerState !== "attached") return false;
    // A reader waiting for more than is queued can only progress if data
    // comes in: take the chunk whatever its size (else a chunk larger than
    // the room left would wait for a reader that waits for it).
    if (this.#queued < this.#wanted || this.#queued === 0) return true;
    const limit = this.#wanted > this.budget ? this.#wanted : this.budget;
    return this.#queued + length <= limit;
  }

  /**
   * Queue a chunk (the caller checked {@link canAccept}). `headroom` says the
   * 7 octets before `chunk` in its ArrayBuffer belong to the caller and may be
   * overwritten (true for the chunk view of a received WRITE frame).
   */
  push(chunk: Buffer, headroom = false): void {
    if (chunk.length === 0) return;
    this.#q.push({ buf: chunk, off: 0, headroom: headroom && chunk.byteOffset >= CHUNK_DATA_OFFSET });
    this.#queued += chunk.length;
    this.#account?.(chunk.length);
    this.#notify();
  }

  // ── reader side ─────────────────────────────────────────────────────────

  /** The reader says how many bytes it waits for (0 when not waiting). */
  setWanted(n: number): void {
    const grew = n > this.#wanted;
    this.#wanted = n;
    if (grew) this.#notify();
  }

  /** Take exactly min(n, queued) bytes as data. Zero-copy when one chunk covers it. */
  take(n: number): Buffer {
    return join(this.#takeViews(n < this.#queued ? n : this.#queued));
  }

  /**
   * Take exactly min(n, queued) bytes as a complete READ_OK frame. When the
   * bytes come from the start of one received WRITE chunk, the frame is built
   * in place over that WRITE's header: no copy. Otherwise one copy.
   */
  takeReadOk(n: number): Buffer {
    return join(this.takeReadOkParts(n));
  }

  /**
   * Like {@link takeReadOk}, as the pieces of one READ_OK frame and without
   * any copy: the frame itself when it can be built in place, else a
   * 7-octet header followed by views of the queued chunks (a READ inside a
   * chunk, or across several). For a transport that writes gathered frames.
   *
   * `finished`, when given, gets every queued chunk this take finished: all
   * of its bytes are now in these pieces or in earlier ones taken for the
   * same reader, so it is free once these pieces are written.
   */
  takeReadOkParts(n: number, finished?: Buffer[]): Buffer[] {
    const want = n < this.#queued ? n : this.#queued;
    const head = this.#q[this.#head];
    const inPlace = head !== undefined && head.headroom && want > 0 && head.buf.length >= want;
    const views = this.#takeViews(want, finished);
    if (inPlace) {
      const chunk = views[0]!;
      const frame = Buffer.from(chunk.buffer, chunk.byteOffset - CHUNK_DATA_OFFSET, CHUNK_DATA_OFFSET + want);
      writeReadOkHeader(frame, want);
      return [frame];
    }
    const header = Buffer.allocUnsafe(CHUNK_DATA_OFFSET);
    writeReadOkHeader(header, want);
    return [header, ...views];
  }

  /** Takes `want` (at most `queued`) bytes off the queue as views of the queued chunks. */
  #takeViews(want: number, finished?: Buffer[]): Buffer[] {
    const views: Buffer[] = [];
    let left = want;
    while (left > 0) {
      const e = this.#q[this.#head] as Entry;
      const avail = e.buf.length - e.off;
      const k = avail < left ? avail : left;
      views.push(e.buf.subarray(e.off, e.off + k));
      // The bytes before a partly taken chunk are in flight: never a header again.
      e.headroom = false;
      e.off += k;
      left -= k;
      if (e.off === e.buf.length) {
        finished?.push(e.buf);
        this.#shift();
      }
    }
    this.#queued -= want;
    this.#account?.(-want);
    if (want > 0) this.#notify();
    return views;
  }

  #shift(): void {
    this.#q[this.#head] = undefined as unknown as Entry;
    this.#head++;
    if (this.#head === this.#q.length) {
      this.#q.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#q.length) {
      this.#q = this.#q.slice(this.#head);
      this.#head = 0;
    }
  }

  #drop(): void {
    if (this.#queued > 0) this.#account?.(-this.#queued);
    const discarded = this.#discarded;
    if (discarded !== undefined) {
      for (let i = this.#head; i < this.#q.length; i++) {
        const e = this.#q[i]!;
        if (e.off === 0) discarded(e.buf);
      }
    }
    this.#q = [];
    this.#head = 0;
    this.#queued = 0;
  }

  /** Tell both ends something changed; never re-entrant (see PipeEnd). */
  #notify(): void {
    if (this.#notifying) {
      this.#dirty = true;
      return;
    }
    this.#notifying = true;
    try {
      let rounds = 0;
      do {
        this.#dirty = false;
        this.#reader?.pipeChanged(this);
        this.#writer?.pipeChanged(this);
        // Each round moves at least one chunk or settles; the bound only guards bugs.
      } while (this.#dirty && ++rounds < 1_000_000);
    } finally {
      this.#notifying = false;
    }
  }
}

/** The pieces as one buffer: the piece itself when there is one (no copy). */
function join(parts: Buffer[]): Buffer {
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
