/**
 * Read slabs that are used again once nothing refers to them any more,
 * instead of being left to the garbage collector.
 *
 * Why: a process that reads a stream into fresh slabs and lets each die at
 * the next GC keeps tens of MiB of slabs alive between collections (V8
 * collects external memory about every 64 MB), so its heap grows and every
 * new page is zeroed by the kernel on first touch. A broker that only
 * passes chunks through knows when it is done with each one (its write to
 * the next socket completed), so it can hand the slab back.
 *
 * How, and why it is safe: every slab carries a count of the references
 * handed out: one for the reader still filling it, one per frame view the
 * connection delivered (counted when it is delivered, before anyone sees
 * it). Only {@link release} lowers the count, and a slab goes back to the
 * free list only at zero. A holder that never releases (a view handed to
 * the application, to a zeromq.js socket, kept by a decoder) keeps the slab
 * out of the pool for good, and the GC frees it as before. So a forgotten
 * release costs memory reuse, never data; only a release too early or
 * twice could, and {@link release} is called at one place per holder.
 *
 * Counts live in a WeakMap keyed by the slab's ArrayBuffer: a slab nobody
 * releases is still collected.
 */
export interface SlabPoolStats {
  /** Slabs allocated fresh. */
  allocated: number;
  /** Slabs taken from the free list instead. */
  reused: number;
  /** Slabs on the free list now. */
  free: number;
}

interface SlabState {
  refs: number;
  readonly slab: Buffer;
}

export class SlabPool {
  readonly slabBytes: number;
  readonly #maxFree: number;
  readonly #free: Buffer[] = [];
  readonly #state = new WeakMap<ArrayBufferLike, SlabState>();
  #allocated = 0;
  #reused = 0;

  /** `maxFree` bounds the memory the free list keeps: maxFree × slabBytes. */
  constructor(slabBytes: number, maxFree = 16) {
    this.slabBytes = slabBytes;
    this.#maxFree = maxFree;
  }

  /** A slab to read into, counted once for the reader, who releases it when done filling it. */
  take(): Buffer {
    let slab = this.#free.pop();
    if (slab === undefined) {
      slab = Buffer.allocUnsafeSlow(this.slabBytes);
      this.#allocated++;
    } else {
      this.#reused++;
    }
    this.#state.set(slab.buffer, { refs: 1, slab });
    return slab;
  }

  /** True when `view` lies in a slab of this pool that is still counted. */
  owns(view: Uint8Array): boolean {
    return this.#state.has(view.buffer);
  }

  /** One more holder of `view`'s slab; false (and nothing counted) for memory not from this pool. */
  retain(view: Uint8Array): boolean {
    const s = this.#state.get(view.buffer);
    if (s === undefined) return false;
    s.refs++;
    return true;
  }

  /**
   * A holder counted by {@link retain} (or the reader, see {@link take})
   * is done with `view`'s slab: its bytes may be overwritten once every
   * holder is. Once per holder; a no-op for memory not from this pool.
   */
  release(view: Uint8Array): void {
    const s = this.#state.get(view.buffer);
    if (s === undefined) return;
    if (--s.refs > 0) return;
    this.#state.delete(view.buffer);
    if (this.#free.length < this.#maxFree) this.#free.push(s.slab);
  }

  stats(): SlabPoolStats {
    return { allocated: this.#allocated, reused: this.#reused, free: this.#free.length };
  }
}
