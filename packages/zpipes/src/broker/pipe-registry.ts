import { EventEmitter } from "node:events";
import { Pipe, type PipeEnd } from "./pipe.js";

/**
 * Events a cluster bridge observes. Per-chunk traffic is not an event here
 * (it would cost on the hot path): a bridge that attaches as a pipe end gets
 * `pipeChanged` calls and moves data with `Pipe.push` / `Pipe.take`.
 */
export interface PipeRegistryEvents {
  /** A reader end attached (local INPUT or a bridge). */
  "reader-attached": [pipe: Pipe, end: PipeEnd];
  /** A writer end attached (local OUTPUT or a bridge). */
  "writer-attached": [pipe: Pipe, end: PipeEnd];
  /** The reader left: the original's DROP READER. */
  "reader-detached": [pipe: Pipe];
  /** The writer left: the original's DROP WRITER. */
  "writer-detached": [pipe: Pipe];
  /** The name no longer maps to this pipe (a new INPUT/OUTPUT starts a fresh one). */
  "pipe-removed": [pipe: Pipe];
}

export type OpenResult = { ok: true; pipe: Pipe } | { ok: false; reason: string };

export interface PipeRegistryOptions {
  /** Per-pipe byte budget (flow control). */
  budget: number;
  /** Broker-wide accounting of queued bytes. */
  account?: (delta: number) => void;
  /** See {@link PipeOptions.discarded}. */
  discarded?: (chunk: Buffer) => void;
}

/**
 * The pipe table: name → the current pipe of that name.
 *
 * A pipe is created by the first INPUT or OUTPUT of a name, takes one reader
 * and one writer, and leaves the table as soon as either end leaves: a new
 * writer (or reader) of that name then starts a fresh pipe, while the old
 * reader drains what the old writer left (ZPIPES reference, "writer closes").
 *
 * This is the seam for clustering: a bridge listens to the events and attaches
 * itself as the missing end with {@link openReader} / {@link openWriter}.
 */
export class PipeRegistry extends EventEmitter<PipeRegistryEvents> {
  readonly #pipes = new Map<string, Pipe>();
  readonly #options: PipeRegistryOptions;

  constructor(options: PipeRegistryOptions) {
    super();
    this.#options = options;
  }

  get size(): number {
    return this.#pipes.size;
  }

  get(name: string): Pipe | undefined {
    return this.#pipes.get(name);
  }

  pipes(): IterableIterator<Pipe> {
    return this.#pipes.values();
  }

  openReader(name: string, end: PipeEnd): OpenResult {
    const pipe = this.#pipeFor(name);
    if (!pipe.attachReader(end)) return { ok: false, reason: `pipe '${name}' already has a reader` };
    this.emit("reader-attached", pipe, end);
    return { ok: true, pipe };
  }

  openWriter(name: string, end: PipeEnd): OpenResult {
    const pipe = this.#pipeFor(name);
    if (!pipe.attachWriter(end)) return { ok: false, reason: `pipe '${name}' already has a writer` };
    this.emit("writer-attached", pipe, end);
    return { ok: true, pipe };
  }

  #pipeFor(name: string): Pipe {
    let pipe = this.#pipes.get(name);
    if (pipe === undefined) {
      const { budget, account, discarded } = this.#options;
      pipe = new Pipe(name, { budget, ...(account ? { account } : {}), ...(discarded ? { discarded } : {}) });
      pipe.onDetached = (p, side) => this.#detached(p, side);
      this.#pipes.set(name, pipe);
    }
    return pipe;
  }

  #detached(pipe: Pipe, side: "reader" | "writer"): void {
    if (this.#pipes.get(pipe.name) === pipe) {
      this.#pipes.delete(pipe.name);
      this.emit("pipe-removed", pipe);
    }
    this.emit(side === "reader" ? "reader-detached" : "writer-detached", pipe);
  }
}
