import { Worker } from "node:worker_threads";

/**
 * Bytes of the block freed to prime glibc: above any threshold glibc has
 * set by itself so far, and just under its DEFAULT_MMAP_THRESHOLD_MAX (32
 * MiB on 64-bit), the largest value its dynamic threshold takes. glibc
 * compares the freed chunk (the request, its header, rounded up to a page)
 * with that maximum, so a block of exactly 32 MiB changes nothing; 64 KiB
 * less sets the thresholds to ~32 and ~64 MiB. (16 MiB, used before
 * session 8, set 16 and 32. Static thresholds on the tls bench, 20,000 ×
 * 64 KiB, one run each in turn: trim at 32 MiB 379 and 444 MB/s, at 64 MiB
 * 433–493, at 128 MiB 432–472, glibc's defaults 349–446.)
 */
const PRIME_BYTES = 32 * 1024 * 1024 - 64 * 1024;

let primed: Promise<boolean> | null = null;

/** The priming started in this process (see {@link primeMallocForStreaming}), or null if none has. */
export function mallocPriming(): Promise<boolean> | null {
  return primed;
}

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
 * such a block is freed. This allocates and frees one block of just under
 * 32 MiB in a short-lived worker thread (a worker's heap is torn down, and
 * its buffers freed, when it exits), which sets them to ~32 and ~64 MiB for
 * the whole process, much as `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=…`
 * would at start. Process-wide and once; resolves true when done (false
 * where it does not apply: not Linux, or VTX_NO_MALLOC_PRIMING=1). The
 * cost: up to ~64 MiB of freed memory stays with the process. Harmless
 * elsewhere (another libc just frees the block).
 *
 * The driver pool starts it when it is created (driver-pool.ts), so every
 * process that runs vtx drivers is primed; zbroker and zpipe call it too.
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

/**
 * glibc's settings for a process that streams big messages, as a
 * `GLIBC_TUNABLES` value. glibc reads it only when a process starts, so it
 * is for the commands that start one (`zbroker` and `zpipe` set it before
 * they exec node) and for whoever launches an application:
 *
 * - `hugetlb=1`: malloc asks for transparent huge pages (madvise) on the
 *   memory it gets from the kernel, so a fresh 2 MiB costs one page fault
 *   instead of 512. On the project's paravirtual VMs a fault costs ~15 µs.
 * - `arena_max=1`: every thread allocates from the main arena. Other
 *   threads' arenas (a driver's worker thread, libzmq's I/O threads) are
 *   heaps glibc maps without asking for huge pages, and deletes whole when
 *   they empty out.
 * - `mmap_threshold=16 MiB`, `trim_threshold=32 MiB`: about what
 *   {@link primeMallocForStreaming} sets from inside a running process
 *   (it reaches ~32 and ~64 MiB).
 *
 * Measured with the zpipes bench (one broker, 256 MiB in 64 KiB chunks,
 * every process tuned): the reader's page faults fell from ~9.7 K to a few
 * hundred per transfer and its CPU from ~410 to ~270 ms. The cost: up to
 * 32 MiB of freed memory stays with the process, huge pages make its
 * resident size grow in 2 MiB steps, and one arena means threads that
 * allocate at the same time wait for each other (node's threads mostly do
 * not).
 */
export const STREAMING_GLIBC_TUNABLES =
  "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=16777216:glibc.malloc.trim_threshold=33554432";

/**
 * `env` with {@link STREAMING_GLIBC_TUNABLES} as `GLIBC_TUNABLES`, for a
 * child process to be started; as it was when it already sets
 * `GLIBC_TUNABLES` (even empty) or `VTX_NO_MALLOC_TUNING=1`.
 */
export function withStreamingMalloc(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (env.GLIBC_TUNABLES !== undefined || env.VTX_NO_MALLOC_TUNING === "1") return { ...env };
  return { ...env, GLIBC_TUNABLES: STREAMING_GLIBC_TUNABLES };
}
