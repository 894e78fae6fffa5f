import { CHUNK_DATA_OFFSET } from "../codec/constants.js";
import { Pump } from "./pump.js";
import type { ClusterMessage } from "./messages.js";
import type { ClusterLogger, PipeEndLike, PipeLike } from "./seam.js";

export interface RemoteWriterOptions {
  pipe: string;
  /** ZRE id of the broker holding the writer. */
  peer: string;
  xfer: Buffer;
  /** Credit we granted: the writer's broker never has more unacknowledged bytes out. */
  window: number;
  maxData: number;
  send: (msg: ClusterMessage) => void;
  done: (end: RemoteWriter) => void;
  logger: ClusterLogger;
}

/**
 * The writer end of a pipe on the reader's broker, standing for a writer on
 * another broker. DATA chunks must arrive numbered 1, 2, 3, ...: each is
 * pushed into the pipe once the pipe's budget has room and only then
 * acknowledged, so the unacknowledged bytes the peer may send (its credit)
 * bound what waits here.
 *
 * The end of the transfer is either clean (DROP WRITER without a reason,
 * after the last chunk is in the pipe: the reader sees READ_END after the
 * data) or a failure (DROP WRITER with a reason, the writer's broker expired,
 * a gap in the numbering): the reader gets what arrived in order, then a
 * failure, never a silent end.
 */
export class RemoteWriter implements PipeEndLike {
  readonly label: string;
  readonly opts: RemoteWriterOptions;
  #pipe: PipeLike | null = null;
  #closed = false;
  #inbound: Buffer[] = [];
  #inHead = 0;
  #inBytes = 0;
  #expect = 1;
  #delivered = 0;
  #ackedSent = 0;
  #deliveredBytes = 0;
  #ackedBytes = 0;
  #end: { last: number; reason: string } | null = null;
  readonly #pumper = new Pump(
    () => this.#deliver(),
    () => this.#closed,
  );

  constructor(opts: RemoteWriterOptions) {
    this.opts = opts;
    this.label = `peer ${opts.peer.slice(0, 8)}/writer`;
  }

  get delivered(): number {
    return this.#delivered;
  }
  get closed(): boolean {
    return this.#closed;
  }

  attach(pipe: PipeLike): void {
    this.#pipe = pipe;
  }

  pipeChanged(pipe: PipeLike): void {
    this.#pipe = pipe;
    this.#pump();
  }

  /** `readOk` is the DATA frame: a READ_OK frame around the chunk (validated by the decoder). */
  onData(seq: number, readOk: Buffer): void {
    if (this.#closed) return;
    if (seq !== this.#expect) {
      // ZRE delivers a link's messages in order or drops the peer, so a gap
      // here is a bug or a hostile peer: stop, never deliver out of order.
      this.#failBoth(`DATA ${seq} where ${this.#expect} was due`);
      return;
    }
    this.#expect++;
    if (this.#end !== null) {
      this.#failBoth(`DATA ${seq} after DROP WRITER`);
      return;
    }
    // The chunk keeps the frame's 7 header octets before it: the pipe may
    // hand it to the reader as that READ_OK, without a copy.
    const data = readOk.subarray(CHUNK_DATA_OFFSET);
    this.#inbound.push(data);
    this.#inBytes += data.length;
    if (this.#inBytes > this.opts.window + this.opts.maxData) {
      this.#failBoth(`peer sent ${this.#inBytes} unacknowledged bytes, credit is ${this.opts.window}`);
      return;
    }
    this.#pump();
  }

  /** The writer's side ended after chunk `last`; a reason means failure. */
  onDropWriter(last: number, reason: string): void {
    if (this.#closed) return;
    if (reason === "" && last !== this.#expect - 1) {
      this.#failBoth(`DROP WRITER after chunk ${last}, received ${this.#expect - 1}`);
      return;
    }
    this.#end = { last: Math.min(last, this.#expect - 1), reason };
    this.#pump();
  }

  /** The writer's broker is gone (ZRE EXIT or LEAVE, or it stopped). */
  peerGone(reason: string): void {
    if (this.#closed) return;
    if (this.#end === null || this.#end.reason === "") {
      // A clean end whose chunks are all here still finishes cleanly.
      const last = this.#expect - 1;
      if (this.#end === null || this.#end.last !== last) this.#end = { last, reason };
    }
    this.#pump();
  }

  /** Local failure (our broker stops): tell the peer, fail the reader now. */
  abort(reason: string): void {
    if (this.#closed) return;
    this.opts.send({ type: "DROP READER", pipe: this.opts.pipe, xfer: this.opts.xfer, reason });
    this.#finish(reason);
  }

  #failBoth(reason: string): void {
    this.opts.logger.log("warn", "cluster-transfer-failed", { pipe: this.opts.pipe, peer: this.opts.peer, reason });
    this.abort(reason);
  }

  #pump(): void {
    this.#pumper.run();
  }

  #deliver(): void {
    const pipe = this.#pipe;
    if (pipe === null || this.#closed) return;
    if (pipe.readerState === "gone") {
      this.opts.send({ type: "DROP READER", pipe: this.opts.pipe, xfer: this.opts.xfer, reason: "reader closed" });
      this.#closed = true;
      this.#drop();
      this.opts.done(this);
      return;
    }
    const before = this.#delivered;
    // Bounded by the inbound queue, which credit bounds.
    while (this.#inHead < this.#inbound.length) {
      const chunk = this.#inbound[this.#inHead]!;
      if (!pipe.canAccept(chunk.length)) break;
      this.#inbound[this.#inHead] = undefined as unknown as Buffer;
      this.#inHead++;
      this.#inBytes -= chunk.length;
      this.#delivered++;
      this.#deliveredBytes += chunk.length;
      pipe.push(chunk, true);
      if (this.#closed) return;
    }
    if (this.#inHead === this.#inbound.length) {
      this.#inbound = [];
      this.#inHead = 0;
    }
    // Acks are cumulative and sent once a quarter of the credit is free
    // again: the writer's broker never runs dry while we keep up, and a
    // 256 MiB transfer costs ~128 ACKs instead of one per chunk.
    if (this.#delivered > before && this.#deliveredBytes - this.#ackedBytes >= Math.max(1, this.opts.window >> 2)) this.#ack();
    const end = this.#end;
    if (end !== null && this.#delivered >= end.last && this.#inBytes === 0) this.#finish(end.reason);
  }

  #finish(reason: string): void {
    const pipe = this.#pipe;
    // The last ACK tells the writer's broker everything arrived (it then
    // forgets the transfer); after a failure it is harmless.
    this.#ack();
    this.#closed = true;
    this.#drop();
    this.opts.done(this);
    if (pipe === null || pipe.writerState !== "attached") return;
    if (reason === "") {
      pipe.detachWriter();
    } else if (pipe.failWriter) {
      pipe.failWriter(reason);
    } else {
      this.opts.logger.log("error", "cluster-seam-missing-failWriter", { pipe: this.opts.pipe, reason });
      pipe.detachWriter();
    }
  }

  #drop(): void {
    this.#inbound = [];
    this.#inHead = 0;
    this.#inBytes = 0;
  }

  #ack(): void {
    if (this.#delivered <= this.#ackedSent) return;
    this.#ackedSent = this.#delivered;
    this.#ackedBytes = this.#deliveredBytes;
    this.opts.send({ type: "ACK", pipe: this.opts.pipe, xfer: this.opts.xfer, seq: this.#delivered });
  }
}
