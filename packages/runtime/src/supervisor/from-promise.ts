import { VtxError } from "../errors.js";
import { errorExit, type ChildExit, type ChildHandle } from "./child-handle.js";
import { SupervisorCode } from "./supervisor-codes.js";

/**
 * A long-running async task as a supervised child.
 *
 * `task` runs at once with an AbortSignal. Its promise settling is the
 * child's exit:
 * - resolved: `normal`;
 * - rejected after `stop()` aborted the signal, with the signal's reason or
 *   an `AbortError` (what `fetch`, `events.once`, timers/promises and
 *   zeromq.js-style loops throw when aborted): `shutdown`;
 * - rejected otherwise, or a synchronous throw: `error`, with the rejection
 *   as `{code, message}` (a `code` string property is kept, else VTX_INTERNAL).
 *
 * `kill()` aborts the signal too and then settles `exited` at once with a
 * VTX_SUPERVISOR_KILLED error: a promise cannot be forced to stop, so the
 * supervisor stops waiting for a task that ignores its signal. Such a task
 * keeps running in the background; design tasks to honour the signal.
 */
export function fromPromise(task: (signal: AbortSignal) => Promise<void>): ChildHandle {
  const controller = new AbortController();
  let settle!: (exit: ChildExit) => void;
  let settled = false;
  const exited = new Promise<ChildExit>((resolve) => {
    settle = (exit) => {
      if (settled) return;
      settled = true;
      resolve(exit);
    };
  });

  // async: a synchronous throw from `task` becomes a rejection like any other.
  const running = (async () => {
    await task(controller.signal);
  })();
  void running.then(
    () => settle({ kind: "normal" }),
    (err: unknown) => settle(controller.signal.aborted && isAbortRejection(err, controller.signal) ? { kind: "shutdown" } : errorExit(err)),
  );

  return {
    exited,
    stop: () => controller.abort(),
    kill: () => {
      controller.abort();
      settle(errorExit(new VtxError(SupervisorCode.KILLED, "task killed: stopped waiting for it to settle")));
    },
  };
}

function isAbortRejection(err: unknown, signal: AbortSignal): boolean {
  if (err === signal.reason) return true;
  return err instanceof Error && err.name === "AbortError";
}
