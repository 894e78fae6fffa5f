import { BroadcastChannel, isMainThread } from "node:worker_threads";

/**
 * Quiet driver workers before the process leaves.
 *
 * When the process exits (`process.exit()`, or naturally) while a driver
 * worker has a zeromq.js receive pending — every bridge has one — Node stops
 * the worker under it, zeromq.js fails to settle that receive in the dying
 * thread and throws a C++ `Napi::Error` nobody catches: the process aborts
 * (SIGABRT, exit status 134) instead of leaving with its exit code. Seen in
 * every run of an app that called `process.exit(0)` with vtx up: 10 of 10
 * over udp and 6 of 6 over ztcp without `destroy()`, 40 of 40 over udp with
 * `destroy()` under way; a two-thread zeromq.js script without vtx does the
 * same (zeromq.js issue #411). Closing the sockets first avoids it.
 *
 * So the application thread's last 'exit' step (driver-pool.ts) asks every
 * driver worker, over a BroadcastChannel, to close its zeromq.js sockets,
 * and waits for each to say so (Atomics on a SharedArrayBuffer the workers
 * got at start, bounded by a timeout). A worker that has answered then
 * blocks until the process is gone, so it touches nothing more.
 */

const CHANNEL = "vtx:exit-quiesce";
/** Words of the shared array: hosts started, hosts quiet, and one nobody ever changes (to park on). */
const HOSTS = 0;
const QUIET = 1;
const PARK = 2;

/** The shared words, made once per process on the application thread (handed to workers as workerData). */
let mainWords: Int32Array | undefined;

export function exitWords(): Int32Array {
  mainWords ??= new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
  return mainWords;
}

/**
 * Application thread, at exit: asks every driver worker to close its
 * zeromq.js sockets and waits until all have, at most `timeoutMs`.
 * Returns how many answered.
 */
export function quiesceWorkers(timeoutMs = 1000): number {
  const words = mainWords;
  if (words === undefined) return 0;
  const hosts = Atomics.load(words, HOSTS);
  if (hosts <= 0) return 0;
  const channel = new BroadcastChannel(CHANNEL);
  channel.postMessage("quiesce");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const quiet = Atomics.load(words, QUIET);
    const left = deadline - Date.now();
    if (quiet >= Atomics.load(words, HOSTS) || left <= 0) {
      channel.close();
      return quiet;
    }
    Atomics.wait(words, QUIET, quiet, left);
  }
}

interface Closable {
  close(): void;
  readonly closed: boolean;
}

/** zeromq.js sockets and observers of this worker, closed at exit. */
const open = new Set<Closable>();
let added = 0;

/** Worker side: `s` is closed when the process exits. Closed ones are dropped from time to time. */
export function closeAtExit(s: Closable): void {
  if (isMainThread) return;
  open.add(s);
  if (++added % 256 === 0) {
    for (const o of open) if (o.closed) open.delete(o);
  }
}

/** Worker side, once per driver worker: answer the application thread's quiesce request. */
export function installWorkerQuiesce(buffer: unknown): void {
  if (isMainThread || !(buffer instanceof SharedArrayBuffer)) return;
  const words = new Int32Array(buffer);
  const channel = new BroadcastChannel(CHANNEL);
  channel.unref();
  Atomics.add(words, HOSTS, 1);
  process.once("exit", () => Atomics.sub(words, HOSTS, 1));
  channel.onmessage = () => {
    for (const s of open) {
      try {
        if (!s.closed) s.close();
      } catch {
        // Closing is best effort: the process is leaving.
      }
    }
    open.clear();
    Atomics.add(words, QUIET, 1);
    Atomics.notify(words, QUIET);
    // Nothing more from this thread: the process is about to end it.
    Atomics.wait(words, PARK, 0, 10_000);
  };
}
