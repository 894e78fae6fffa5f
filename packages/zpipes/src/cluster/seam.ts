/**
 * What the cluster needs from the broker's pipe table, stated structurally so
 * that this folder depends on the broker only through these shapes (the
 * broker's `PipeRegistry`, `Pipe` and `PipeEnd` satisfy them).
 */

export type EndStateLike = "none" | "attached" | "gone";

/** One end of a pipe: a local client session, or a cluster bridge. */
export interface PipeEndLike {
  readonly label: string;
  /** Called synchronously whenever something on the pipe changed (never nested). */
  pipeChanged(pipe: PipeLike): void;
  /**
   * A reader end standing for a reader elsewhere: calls `cb` once what the
   * writer wrote has arrived there (null) or cannot (the reason).
   */
  whenDelivered?(cb: (failure: string | null) => void): void;
}

export interface PipeLike {
  readonly name: string;
  readonly reader: PipeEndLike | null;
  readonly writer: PipeEndLike | null;
  readonly readerState: EndStateLike;
  readonly writerState: EndStateLike;
  /** Bytes queued and not yet read. */
  readonly queued: number;
  /** Whether a chunk of `length` bytes fits now (reader attached and room in the budget). */
  canAccept(length: number): boolean;
  /**
   * Queue a chunk (caller checked canAccept). `headroom`: the 7 octets before
   * `chunk` in its buffer are the caller's, so the pipe may turn them into a
   * READ_OK header and send the chunk without copying.
   */
  push(chunk: Buffer, headroom?: boolean): void;
  /** Take exactly min(n, queued) bytes. */
  take(n: number): Buffer;
  /** Take exactly min(n, queued) bytes as a complete ZPIPES READ_OK frame (in place when it can). */
  takeReadOk(n: number): Buffer;
  /** The reader left: queued data is dropped and the writer's further writes fail. */
  detachReader(): void;
  /** The writer left cleanly: the reader drains what is queued, then sees the end. */
  detachWriter(): void;
  /**
   * The writer is gone because of a failure (its broker died): the reader
   * drains what is queued, then gets READ_FAILED with `reason` instead of
   * READ_END. Optional in the seam: without it the cluster falls back to
   * {@link detachWriter} and logs that the reader cannot see the failure.
   */
  failWriter?(reason: string): void;
}

export type OpenResultLike = { ok: true; pipe: PipeLike } | { ok: false; reason: string };

export interface PipeRegistryLike {
  get(name: string): PipeLike | undefined;
  pipes(): Iterable<PipeLike>;
  openReader(name: string, end: PipeEndLike): OpenResultLike;
  openWriter(name: string, end: PipeEndLike): OpenResultLike;
  on(event: "reader-attached" | "writer-attached", listener: (pipe: PipeLike, end: PipeEndLike) => void): unknown;
  off(event: "reader-attached" | "writer-attached", listener: (pipe: PipeLike, end: PipeEndLike) => void): unknown;
}

/** Structured log sink (the broker's `Logger` fits). */
export interface ClusterLogger {
  log(level: "debug" | "info" | "warn" | "error", event: string, fields?: Record<string, unknown>): void;
}
