import type { Duplex } from "node:stream";
import { VtxError } from "../errors.js";

/** Big messages are gathered (stream corked) until the owner flushes or this many bytes wait. */
export const CORK_BYTES = 256 * 1024;

/**
 * The write side of a ZMTP connection over a byte stream. Encoded batches
 * go out as they come; big messages (header and bodies by reference, from
 * the engine's `sendv`) are gathered with what follows in the same burst
 * into one writev, by corking the stream until {@link flush} or
 * {@link CORK_BYTES} are buffered in all. Nothing is written once the stream has ended.
 */
export class GatherWriter {
  readonly #stream: Duplex;
  #corked = false;
  /** Bytes written while corked: queued by us this burst, not yet offered to the peer. */
  #corkedBytes = 0;

  constructor(stream: Duplex) {
    this.#stream = stream;
  }

  write(bytes: Buffer): void {
    if (this.#stream.writable) this.#stream.write(bytes);
  }

  /**
   * Gathered until {@link flush}. `done`, when given, is called once the
   * stream no longer needs `chunks` (written to the kernel, or dropped by a
   * destroyed stream); never when the stream was no longer writable.
   */
  writev(chunks: Buffer[], done?: () => void): void {
    const s = this.#stream;
    if (!s.writable) return;
    if (!this.#corked) {
      s.cork();
      this.#corked = true;
    }
    const last = chunks.length - 1;
    for (let i = 0; i <= last; i++) {
      const c = chunks[i]!;
      // Writes complete in order: the last chunk's callback covers the rest.
      if (i === last && done !== undefined) s.write(c, done);
      else s.write(c);
      this.#corkedBytes += c.length;
    }
    // Counting what was buffered before too: a stream already backed up
    // gains nothing from holding more.
    if (s.writableLength >= CORK_BYTES) this.flush();
  }

  /** Writes out what is gathered. */
  flush(): void {
    if (!this.#corked) return;
    this.#corked = false;
    this.#corkedBytes = 0;
    this.#stream.uncork();
  }

  /** Bytes buffered in the stream, gathered ones included. */
  get buffered(): number {
    return this.#stream.writableLength;
  }

  /** Bytes offered to the peer in earlier bursts that it has not taken yet. */
  get unread(): number {
    return this.#stream.writableLength - this.#corkedBytes;
  }
}

/** A stream's error as a VtxError carrying the stream's code (ECONNRESET...). */
export function streamError(err: Error & { code?: string }): VtxError {
  return new VtxError(err.code ?? "VTX_STREAM_ERROR", `stream error: ${err.message}`, { cause: err });
}

/**
 * Ends a stream the polite way: what was written (an ERROR command, say)
 * still reaches the peer; a peer that does not read it all and close its
 * side is cut off `graceMs` later (a second by default). Later stream errors
 * are ignored.
 */
export function endStream(stream: Duplex, graceMs = 1000): void {
  stream.on("error", () => undefined);
  stream.end(() => stream.destroy());
  setTimeout(() => stream.destroy(), graceMs).unref();
}
