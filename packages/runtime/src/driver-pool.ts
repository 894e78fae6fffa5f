import { Piscina } from "piscina";
import type { DriverTask } from "./driver-host.js";
import { exitWords, quiesceWorkers } from "./exit-quiesce.js";
import { primeMallocForStreaming } from "./malloc-tuning.js";

/**
 * The worker pool that hosts drivers. One pool per size is shared by every
 * Vtx in the process and never terminated: a worker that exits while the
 * application still holds zero-copy messages its bridges sent would corrupt
 * the heap (see driver-host.ts). Its threads are unref'd so they never keep
 * the process alive on their own.
 */
const pools = new Map<number, Piscina<DriverTask, void>>();

export function driverPool(size: number): Piscina<DriverTask, void> {
  let pool = pools.get(size);
  if (pool) return pool;
  // Streaming big messages allocates slabs that die in bulk at each GC; with
  // glibc's default thresholds that memory went back to the kernel and was
  // faulted in again (tls 64 KiB, five alternating pairs: 59–109 K page
  // faults per 20,000 messages against 34–43 K primed, and +10 to +49 %
  // throughput, median +12 %; docs/benchmarks.md, session 8).
  // VTX_NO_MALLOC_PRIMING=1 turns it off.
  void primeMallocForStreaming();
  pool = new Piscina<DriverTask, void>({
    filename: new URL("./driver-host.js", import.meta.url).href,
    minThreads: size,
    maxThreads: size,
    idleTimeout: Number.POSITIVE_INFINITY,
    // Driver tasks are long-lived and async: several share a worker, and the
    // worker's event loop must keep running between messages.
    concurrentTasksPerWorker: 64,
    atomics: "disabled",
    maxQueue: "auto",
    // Shared words for quieting the workers at exit (exit-quiesce.ts).
    workerData: { vtxExitWords: exitWords().buffer },
  });
  const unrefAll = (): void => {
    for (const t of pool?.threads ?? []) t.unref();
  };
  pool.on("workerCreate", unrefAll);
  unrefAll();
  pools.set(size, pool);
  leaveWithoutFreeingTheMainEnvironment();
  return pool;
}

let exitHookInstalled = false;

/**
 * At a natural exit Node frees the main thread's environment after it has
 * stopped the worker threads, and freeing it runs the finalizers of every
 * Buffer the application still holds — including zero-copy messages a
 * bridge sent from a worker, whose release then reaches into the dead
 * worker's heap (glibc heap corruption, seen in 4 of 6 exits of a process
 * holding 3000 received 1 KiB messages). `process.exit()` does not free the
 * main environment, and was seen clean in 10 of 10 such exits; so a natural
 * exit is turned into that path: the last 'exit' listeners run, then the
 * process leaves the way `process.exit()` would.
 */
function leaveWithoutFreeingTheMainEnvironment(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const reallyExit = (process as unknown as { reallyExit?: (code: number) => never }).reallyExit;
  if (typeof reallyExit !== "function") return;
  // Node emits 'exit' before it prints an uncaught exception: leaving from
  // that 'exit' would end the process with the error never shown. The
  // monitor sees such an exception first; then Node is left to report it
  // and end the process itself (a fatal error's path does not free the main
  // environment either).
  let fatal = false;
  process.on("uncaughtExceptionMonitor", () => {
    fatal = true;
  });
  const onExit = (code: number): void => {
    // Listeners registered after this one would not run once we leave: run them first.
    const listeners = process.listeners("exit");
    for (const l of listeners.slice(listeners.indexOf(onExit) + 1)) {
      try {
        l.call(process, code);
      } catch {
        // An 'exit' listener's error must not keep us from leaving cleanly.
      }
    }
    if (fatal && process.listenerCount("uncaughtException") === 0) {
      quiesceWorkers();
      return;
    }
    const exitCode = typeof process.exitCode === "number" ? process.exitCode : code;
    // Workers close their zeromq.js sockets first, or stopping them under a
    // pending receive aborts the process (exit-quiesce.ts).
    quiesceWorkers();
    reallyExit.call(process, exitCode);
  };
  process.on("exit", onExit);
}
