import { VtxError } from "../errors.js";
import type { ChildHandle } from "./child-handle.js";
import type { ResolvedChildSpec } from "./child-spec.js";
import { SupervisorCode } from "./supervisor-codes.js";

/**
 * Calls a spec's `start()` and checks that it gave a ChildHandle, within
 * the spec's `startTimeout` if it has one. Rejects on a throw, a rejection,
 * something that is not a handle, or the timeout (VTX_SUPERVISOR_START_TIMEOUT).
 * A handle that arrives after the timeout is killed at once, so that
 * nothing runs unsupervised.
 */
export async function callStart(spec: ResolvedChildSpec): Promise<ChildHandle> {
  // An async wrapper: start() is called right now, and a synchronous throw becomes a rejection.
  const starting = (async () => checkHandle(await spec.start()))();
  const ms = spec.startTimeout;
  if (ms === undefined) return starting;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new VtxError(SupervisorCode.START_TIMEOUT, `start() took more than ${ms} ms`, { detail: { id: spec.id } })),
      ms,
    );
  });
  try {
    return await Promise.race([starting, timeout]);
  } catch (err) {
    if (err instanceof VtxError && err.code === SupervisorCode.START_TIMEOUT) starting.then(killLate, () => undefined);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

function checkHandle(handle: ChildHandle): ChildHandle {
  const h = handle as Partial<ChildHandle> | null | undefined;
  if (typeof h !== "object" || h === null || typeof h.stop !== "function" || typeof h.exited?.then !== "function") {
    throw new TypeError("start() must return a ChildHandle { exited: Promise, stop() }");
  }
  return handle;
}

function killLate(late: ChildHandle): void {
  try {
    if (late.kill !== undefined) late.kill();
    else late.stop();
  } catch {
    // A handle that cannot even be killed: nothing more to do.
  }
}
