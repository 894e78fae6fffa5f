/**
 * The slab pool's counting: a slab goes back to the free list only once the
 * reader released it and every view counted in it was released; memory not
 * from the pool is ignored; the free list is bounded.
 */
import { describe, expect, it } from "vitest";
import { SlabPool } from "../../src/stream/slab-pool.js";

describe("slab pool", () => {
  it("reuses a slab only after the reader released it and each counted view was released", () => {
    const pool = new SlabPool(1024, 4);
    const a = pool.take();
    expect(a.length).toBe(1024);
    const v1 = a.subarray(0, 100);
    const v2 = a.subarray(100, 300);
    expect(pool.retain(v1)).toBe(true);
    expect(pool.retain(v2)).toBe(true);
    pool.release(a);
    pool.release(v1);
    // v2 is still held: a new slab is allocated, not `a`.
    const b = pool.take();
    expect(b.buffer).not.toBe(a.buffer);
    pool.release(v2);
    expect(pool.stats()).toEqual({ allocated: 2, reused: 0, free: 1 });
    const c = pool.take();
    expect(c.buffer).toBe(a.buffer);
    expect(pool.stats()).toEqual({ allocated: 2, reused: 1, free: 0 });
  });

  it("a view never released keeps its slab out for good (no reuse, and no count left to release later)", () => {
    const pool = new SlabPool(1024, 4);
    const a = pool.take();
    expect(pool.retain(a.subarray(0, 10))).toBe(true);
    pool.release(a);
    expect(pool.owns(a)).toBe(true);
    expect(pool.take().buffer).not.toBe(a.buffer);
    expect(pool.stats().free).toBe(0);
  });

  it("ignores memory that is not from the pool, and slabs once they are back", () => {
    const pool = new SlabPool(1024, 4);
    const foreign = Buffer.allocUnsafeSlow(1024);
    expect(pool.owns(foreign)).toBe(false);
    expect(pool.retain(foreign)).toBe(false);
    pool.release(foreign);
    const a = pool.take();
    pool.release(a);
    expect(pool.owns(a)).toBe(false);
    // A release too many for a slab already back changes nothing.
    pool.release(a);
    expect(pool.stats()).toEqual({ allocated: 1, reused: 0, free: 1 });
  });

  it("keeps at most maxFree slabs on the free list", () => {
    const pool = new SlabPool(1024, 2);
    const slabs = [pool.take(), pool.take(), pool.take()];
    for (const s of slabs) pool.release(s);
    expect(pool.stats()).toEqual({ allocated: 3, reused: 0, free: 2 });
  });
});
