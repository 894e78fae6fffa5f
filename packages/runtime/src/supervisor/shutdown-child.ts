import { errorExit, type ChildExit, type ChildHandle } from "./child-handle.js";
import type { Shutdown } from "./child-spec.js";
import { SupervisorCode } from "./supervisor-codes.js";
import { VtxError } from "../errors.js";

/** How a child stopped at the supervisor's request. */
export interface ShutdownResult {
  /** The exit the child reported, or a `VTX_SUPERVISOR_KILLED` error if it never did. */
  readonly exit: ChildExit;
  /** The supervisor had to kill it (brutal_kill, or the shutdown timeout ran out). */
  readonly killed: boolean;
  /** It did not report its exit even after the kill; the supervisor stopped waiting. */
  readonly abandoned: boolean;
}

/**
 * Stops one child as OTP's `shutdown/2` does: ask and wait up to `shutdown` ms
 * then kill, or kill at once (`brutal_kill`), or ask and wait for ever
 * (`infinity`).
 *
 * In OTP a kill cannot be refused and the supervisor waits for the `'DOWN'`
 * message however long it takes. Here `kill()` is the child's own code, and a
 * child may have none, so after the kill we wait at most `killTimeout` ms and
 * then report the child abandoned rather than hang the whole tree.
 *
 * @param exited the child's hardened exit promise (see `observeExit`); it never rejects.
 */
export async function shutdownChild(
  handle: ChildHandle,
  exited: Promise<ChildExit>,
  shutdown: Shutdown,
  killTimeout: number,
): Promise<ShutdownResult> {
  if (shutdown !== "brutal_kill") {
    const asked = call(() => handle.stop());
    if (asked) {
      const exit = shutdown === "infinity" ? await exited : await within(exited, shutdown);
      if (exit !== undefined) return { exit, killed: false, abandoned: false };
    }
    // stop() threw: the child cannot stop in order, so it is killed like one that ignores stop().
  }
  if (handle.kill !== undefined) call(() => handle.kill?.());
  else call(() => handle.stop());
  const exit = await within(exited, killTimeout);
  if (exit !== undefined) return { exit, killed: true, abandoned: false };
  return {
    exit: errorExit(new VtxError(SupervisorCode.KILLED, `child did not exit within ${killTimeout} ms of being killed`)),
    killed: true,
    abandoned: true,
  };
}

/** Runs a child's callback; a child throwing must not break the supervisor. */
function call(fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch {
    return false;
  }
}

/** `p`'s value, or `undefined` if it takes longer than `ms`. The timer never outlives the wait. */
function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
