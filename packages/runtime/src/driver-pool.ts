import { Piscina } from "piscina";
import type { DriverTask } from "./driver-host.js";

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
  });
  const unrefAll = (): void => {
    for (const t of pool?.threads ?? []) t.unref();
  };
  pool.on("workerCreate", unrefAll);
  unrefAll();
  pools.set(size, pool);
  return pool;
}
