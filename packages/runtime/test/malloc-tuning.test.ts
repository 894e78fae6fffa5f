/**
 * primeMallocForStreaming: glibc keeps big buffers' memory for reuse
 * afterwards. Measured where it matters, in page faults: a child process
 * churns 256 × 1 MiB buffers (64 alive at a time, as read slabs live until
 * a GC), once as is and once primed.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { primeMallocForStreaming, STREAMING_GLIBC_TUNABLES, withStreamingMalloc } from "../src/malloc-tuning.js";

const MODULE = fileURLToPath(new URL("../dist/malloc-tuning.js", import.meta.url));
const POOL_MODULE = fileURLToPath(new URL("../dist/driver-pool.js", import.meta.url));

/** In a fresh process: whether priming had started before the driver pool existed, and how it ended after. */
function primingAroundPool(env: NodeJS.ProcessEnv): { before: boolean; after: boolean | null } {
  const script = `
const { mallocPriming } = await import(${JSON.stringify(MODULE)});
const { driverPool } = await import(${JSON.stringify(POOL_MODULE)});
const before = mallocPriming() !== null;
driverPool(1);
const p = mallocPriming();
const after = p === null ? null : await p;
process.stdout.write(JSON.stringify({ before, after }));
process.exit(0);
`;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000, env: { ...process.env, ...env } });
  return JSON.parse(out) as { before: boolean; after: boolean | null };
}

const CHURN = `
if (process.argv[1] === "prime") {
  const { primeMallocForStreaming } = await import(${JSON.stringify(MODULE)});
  if (!(await primeMallocForStreaming())) throw new Error("priming did not run");
} else {
  // The control starts and ends a worker thread too, with a small buffer:
  // what counts is the freed ~32 MiB block, not the thread.
  const { Worker } = await import("node:worker_threads");
  await new Promise((resolve) => new Worker("new Uint8Array(new ArrayBuffer(1024))[0] = 1;", { eval: true }).once("exit", resolve));
}
gc();
const f0 = process.resourceUsage().minorPageFault;
const keep = [];
for (let i = 0; i < 256; i++) {
  const b = Buffer.allocUnsafeSlow(1 << 20);
  b.fill(1);
  keep.push(b);
  if (keep.length > 64) keep.shift();
  if (i % 16 === 15) gc();
}
process.stdout.write(String(process.resourceUsage().minorPageFault - f0));
`;

function faults(mode: "control" | "prime", tunables = ""): number {
  const out = execFileSync(process.execPath, ["--expose-gc", "--no-concurrent-array-buffer-sweeping", "--input-type=module", "-e", CHURN, mode], {
    encoding: "utf8",
    timeout: 30_000,
    env: { ...process.env, GLIBC_TUNABLES: tunables, VTX_NO_MALLOC_PRIMING: "" },
  });
  return Number(out);
}

describe.runIf(process.platform === "linux")("primeMallocForStreaming", () => {
  it("runs once per process and says so", async () => {
    const a = primeMallocForStreaming();
    expect(primeMallocForStreaming()).toBe(a);
    expect(await a).toBe(true);
  });

  it("cuts the page faults of buffer churn by 30 % or more", () => {
    const control = faults("control");
    const primed = faults("prime");
    // 256 MiB of 1 MiB buffers: 45.1 K faults in the control, 20.5 K
    // primed, within ±50 over twelve runs each, idle or with three CPU
    // hogs; a 40 MiB block (above glibc's dynamic maximum) or a small one
    // gives the control's figure.
    expect(control).toBeGreaterThan(20_000);
    expect(primed).toBeLessThan(control * 0.7);
  });

  it("STREAMING_GLIBC_TUNABLES, set when a process starts, cut the faults of the same churn too", () => {
    const control = faults("control");
    const tuned = faults("control", STREAMING_GLIBC_TUNABLES);
    // Measured: 45.1 K faults without, 46 with (huge pages granted); its
    // thresholds alone, where the kernel grants no huge pages, give 20.5 K.
    expect(control).toBeGreaterThan(20_000);
    expect(tuned).toBeLessThan(control * 0.7);
  });

  it("a process primes glibc when it creates its driver pool, unless VTX_NO_MALLOC_PRIMING=1", () => {
    expect(primingAroundPool({ VTX_NO_MALLOC_PRIMING: "" })).toEqual({ before: false, after: true });
    expect(primingAroundPool({ VTX_NO_MALLOC_PRIMING: "1" })).toEqual({ before: false, after: false });
  });

  it("withStreamingMalloc sets GLIBC_TUNABLES for a child unless the caller set it or opted out", () => {
    expect(withStreamingMalloc({ PATH: "/bin" })).toEqual({ PATH: "/bin", GLIBC_TUNABLES: STREAMING_GLIBC_TUNABLES });
    expect(withStreamingMalloc({ GLIBC_TUNABLES: "" }).GLIBC_TUNABLES).toBe("");
    expect(withStreamingMalloc({ VTX_NO_MALLOC_TUNING: "1" }).GLIBC_TUNABLES).toBeUndefined();
  });
});
