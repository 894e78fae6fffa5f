import { Worker } from "node:worker_threads";

/**
 * Bytes of the block freed to prime glibc: above any threshold glibc has
 * set by itself so far, and at most its DEFAULT_MMAP_THRESHOLD_MAX (32 MiB
 * on 64-bit), the largest value its dynamic threshold takes.
 */
const PRIME_BYTES = 16 * 1024 * 1024;

let primed: Promise<boolean> | null = null;

/**
 * Makes glibc keep the memory of big buffers for reuse instead of handing
 * it back to the kernel, so that streaming large messages stops paying a
 * page fault per fresh 4 KiB page.
 *
 * Why: glibc serves allocations above its mmap threshold (128 KiB at start)
 * with a fresh mmap and unmaps them on free, and trims the heap whenever
 * more than its trim threshold is free at the top. Read slabs and big
 * messages live until a GC frees them in bulk, so every cycle came back as
 * fresh pages. On the project's paravirtual VMs a page fault costs ~15 µs
 * (a C loop touching fresh pages), and faults were the largest cost of a
 * ZPIPES reader: 16–20 K per 256 MiB.
 *
 * How: glibc raises both thresholds by itself (mmap threshold to the size
 * of a freed mmapped block, trim threshold to twice that) the first time
 * such a block is freed. This allocates and frees one 16 MiB block in a
 * short-lived worker thread (a worker's heap is torn down, and its buffers
 * freed, when it exits), which sets them to 16 and 32 MiB for the whole
 * process, as `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=…` would at
 * start. Process-wide and once; resolves true when done (false where it
 * does not apply: not Linux). The cost: up to ~32 MiB of freed memory stays
 * with the process. Harmless elsewhere (another libc just frees the block).
 */
export function primeMallocForStreaming(): Promise<boolean> {
  if (primed !== null) return primed;
  if (process.platform !== "linux" || process.env.VTX_NO_MALLOC_PRIMING === "1") {
    primed = Promise.resolve(false);
    return primed;
  }
  primed = new Promise<boolean>((resolve) => {
    let worker: Worker;
    try {
      worker = new Worker(`new Uint8Array(new ArrayBuffer(${PRIME_BYTES}))[0] = 1;`, { eval: true });
    } catch {
      resolve(false);
      return;
    }
    worker.once("error", () => resolve(false));
    worker.once("exit", (code) => resolve(code === 0));
  });
  return primed;
}
