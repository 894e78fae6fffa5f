import { VtxError } from "../errors.js";
import { errorExit, type ChildExit, type ChildHandle } from "./child-handle.js";
import { SupervisorCode } from "./supervisor-codes.js";

export interface FromPromiseOptions {
  /**
   * The orderly stop, when aborting the signal is too blunt: e.g. a "stop"
   * message on the task's control mailbox, so that a piscina task ends by
   * itself instead of having its worker terminated. Default: abort the
   * signal. The task should then resolve (a `normal` exit).
   */
  readonly stop?: () => void;
}

/**
 * A long-running async task as a supervised child.
 *
 * `task` runs at once with an AbortSignal. Its promise settling is the
 * child's exit:
 * - resolved: `normal`;
 * - rejected after `stop()` aborted the signal, with the signal's reason or
 *   an `AbortError` (what `fetch`, `events.once`, `timers/promises` and
 *   piscina's `run` reject with when aborted): `shutdown`;
 * - rejected after `kill()`: an error with code VTX_SUPERVISOR_KILLED;
 * - rejected otherwise, or a synchronous throw: `error`, with the rejection
 *   as `{code, message}` (a string `code` property is kept, else VTX_INTERNAL).
 *
 * `kill()` aborts the signal (with a VTX_SUPERVISOR_KILLED reason) even
 * when `options.stop` is set: for a piscina task, that terminates its
 * worker. `exited` still settles only when the task does, so that a
 * restart never overlaps with the old task; a task that ignores its signal
 * is abandoned by the supervisor after its `killTimeout`, and keeps running
 * in the background. Design tasks to honour the signal.
 */
export function fromPromise(task: (signal: AbortSignal) => Promise<void>, options: FromPromiseOptions = {}): ChildHandle {
  const controller = new AbortController();
  let stopping = false;
  let killed = false;

  const exited = (async (): Promise<ChildExit> => {
    try {
      // Inside the async function, a synchronous throw from `task` is a rejection like any other.
      await task(controller.signal);
      return { kind: "normal" };
    } catch (err) {
      if (killed) return errorExit(new VtxError(SupervisorCode.KILLED, "task killed", { cause: err }));
      if (stopping && controller.signal.aborted && isAbortRejection(err, controller.signal)) return { kind: "shutdown" };
      return errorExit(err);
    }
  })();

  return {
    exited,
    stop: () => {
      stopping = true;
      if (options.stop !== undefined) options.stop();
      else controller.abort();
    },
    kill: () => {
      killed = true;
      controller.abort(new VtxError(SupervisorCode.KILLED, "task killed"));
    },
  };
}

function isAbortRejection(err: unknown, signal: AbortSignal): boolean {
  if (err === signal.reason) return true;
  return err instanceof Error && err.name === "AbortError";
}
