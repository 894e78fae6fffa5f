import { CHUNK_DATA_OFFSET } from "../codec/constants.js";
import { Pump } from "./pump.js";
import { encodeDataFrames, pipeNameFrame, type ClusterMessage } from "./messages.js";
import type { ClusterLogger, PipeEndLike, PipeLike } from "./seam.js";

export interface RemoteReaderOptions {
  pipe: string;
  /** ZRE id of the broker holding the reader. */
  peer: string;
  xfer: Buffer;
  /** Credit granted by the reader's broker: bytes sent and not yet acknowledged. */
  window: number;
  /** Largest DATA chunk. */
  maxData: number;
  send: (msg: ClusterMessage) => void;
  /** Sends already-encoded frames (DATA, the hot path). */
  sendFrames: (frames: Buffer[]) => void;
  /** The transfer is over (finished or failed): forget it. */
  done: (end: RemoteReader) => void;
  logger?: ClusterLogger;
}

/**
 * The reader end of a pipe on the writer's broker, standing for a reader on
 * another broker. It takes queued chunks from the pipe and sends them as
 * numbered DATA while the reader's broker has granted credit; ACKs return
 * credit. The local writer is paced by the pipe's own budget, so a WRITE_OK
 * never waits for the network, and broker memory stays bounded by
 * budget + window.
 */
export class RemoteReader implements PipeEndLike {
  readonly label: string;
  readonly opts: RemoteReaderOptions;
  #pipe: PipeLike | null = null;
  readonly #name: Buffer;
  #started = false;
  #closed = false;
  #seq = 0;
  #acked = 0;
  #inFlight = 0;
  /** Lengths of unacknowledged chunks, in sequence order. */
  #unacked: number[] = [];
  #unackedHead = 0;
  #dropSent = false;
  /** Set when the transfer ended: null = every chunk is in the reader's pipe, else why not. */
  #outcome: string | null | undefined = undefined;
  #waiters: ((failure: string | null) => void)[] = [];
  readonly #pumper = new Pump(
    () => this.#sendSome(),
    () => this.#closed,
  );

  constructor(opts: RemoteReaderOptions) {
    this.opts = opts;
    this.label = `peer ${opts.peer.slice(0, 8)}/reader`;
    this.#name = pipeNameFrame(opts.pipe);
  }

  get sent(): number {
    return this.#seq;
  }
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Begin sending. Until then nothing leaves: the confirmation (HAVE WRITER
   * with the transfer id) must precede the first DATA on the link.
   */
  start(pipe: PipeLike): void {
    this.#pipe = pipe;
    this.#started = true;
    this.#pump();
  }

  pipeChanged(pipe: PipeLike): void {
    this.#pipe = pipe;
    if (this.#started) this.#pump();
  }

  /** Cumulative: chunks 1..seq are in the reader's pipe. */
  onAck(seq: number): void {
    if (this.#closed) return;
    if (seq > this.#seq) {
      this.fail(`ACK for chunk ${seq}, only ${this.#seq} sent`, true);
      return;
    }
    while (this.#acked < seq) {
      this.#inFlight -= this.#unacked[this.#unackedHead]!;
      this.#unackedHead++;
      this.#acked++;
    }
    if (this.#unackedHead > 1024 && this.#unackedHead * 2 > this.#unacked.length) {
      this.#unacked = this.#unacked.slice(this.#unackedHead);
      this.#unackedHead = 0;
    }
    if (this.#dropSent && this.#acked === this.#seq) {
      // Everything the writer wrote is in the reader's pipe: done.
      this.#finish(null);
      return;
    }
    this.#pump();
  }

  /**
   * The reader's side is gone (DROP READER, its broker expired or left, or
   * a protocol error): the local pipe loses its reader, so the writer's next
   * WRITE fails. `tell` also sends DROP WRITER with the reason to the peer.
   */
  fail(reason: string, tell = false): void {
    if (this.#closed) return;
    this.#closed = true;
    if (tell) this.opts.send({ type: "DROP WRITER", pipe: this.opts.pipe, xfer: this.opts.xfer, last: this.#seq, reason });
    const pipe = this.#pipe;
    const unacked = this.#inFlight + (pipe?.queued ?? 0);
    if (pipe !== null && pipe.writerState === "gone" && unacked > 0 && this.#waiters.length === 0) {
      // The writer already had CLOSE_OK (it closed before the cluster could
      // hold it to delivery): no call of its can fail any more. The reader
      // side sees the failure; say here what the writer missed.
      this.opts.logger?.log("error", "cluster-lost-after-writer-closed", { pipe: this.opts.pipe, peer: this.opts.peer, bytes: unacked, reason });
    }
    pipe?.detachReader();
    this.#finish(reason);
  }

  /**
   * Calls `cb` once the transfer has ended: with null when every chunk the
   * writer wrote is in the reader's pipe on the other broker, else with the
   * reason it never will be. A writer's CLOSE waits on this, so CLOSE_OK
   * means delivered and a link lost meanwhile is a CLOSE_FAILED.
   */
  whenDelivered(cb: (failure: string | null) => void): void {
    if (this.#outcome !== undefined) cb(this.#outcome);
    else this.#waiters.push(cb);
  }

  #finish(failure: string | null): void {
    this.#closed = true;
    this.#outcome = failure;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w(failure);
    this.opts.done(this);
  }

  #pump(): void {
    this.#pumper.run();
  }

  #sendSome(): void {
    const pipe = this.#pipe;
    if (pipe === null || this.#closed) return;
    const { window, maxData } = this.opts;
    // Bounded by the pipe's queue: every round takes at least one byte.
    while (pipe.queued > 0 && !this.#closed) {
      // Always allow one chunk when nothing is in flight, so a window
      // smaller than a chunk cannot stall the transfer.
      const room = this.#inFlight === 0 ? maxData : window - this.#inFlight;
      if (room <= 0) break;
      const n = Math.min(pipe.queued, maxData, room);
      // As a READ_OK frame: built over the WRITE's own header when the chunk
      // is taken whole, so neither broker copies it (see messages.ts, DATA).
      const readOk = pipe.takeReadOk(n);
      const len = readOk.length - CHUNK_DATA_OFFSET;
      this.#seq++;
      this.#inFlight += len;
      this.#unacked.push(len);
      this.opts.sendFrames(encodeDataFrames(this.#name, readOk, this.opts.xfer, this.#seq));
    }
    if (!this.#dropSent && !this.#closed && pipe.writerState === "gone" && pipe.queued === 0) {
      this.#dropSent = true;
      this.opts.send({ type: "DROP WRITER", pipe: this.opts.pipe, xfer: this.opts.xfer, last: this.#seq, reason: "" });
      if (this.#acked === this.#seq) this.#finish(null);
    }
  }
}
