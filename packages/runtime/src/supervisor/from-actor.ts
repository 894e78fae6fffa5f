import type { AnyActorRef } from "xstate";
import { errorExit, type ChildExit, type ChildHandle } from "./child-handle.js";

/**
 * An XState 5 root actor (from `createActor`) as a supervised child.
 *
 * Subscribes to the actor, then starts it if it is not started yet (XState's
 * `start()` is a no-op on a running actor). The exit is:
 * - `normal` when the actor reaches a final state (snapshot status `"done"`);
 * - `shutdown` when it is stopped (`stop()`, status `"stopped"`);
 * - `error` when it fails (status `"error"`: an action or guard threw, an
 *   invoked actor's error was not handled), with the error as `{code, message}`.
 *
 * Because this subscription has an error listener, XState does not report
 * the actor's error as unhandled; the supervisor handles it instead (OTP
 * semantics rather than XState's escalation to the parent). Other
 * subscribers without an error listener still make XState report it.
 *
 * There is no `kill()`: an actor's `stop()` takes effect at once (XState
 * clears the mailbox and processes the stop), so there is nothing more
 * forceful to do. The spec's `start` must create a new actor each time:
 * `{ id: "conn", start: () => fromActor(createActor(connMachine)) }`.
 */
export function fromActor(actor: AnyActorRef): ChildHandle {
  let settle!: (exit: ChildExit) => void;
  let settled = false;
  const exited = new Promise<ChildExit>((resolve) => {
    settle = (exit) => {
      if (settled) return;
      settled = true;
      resolve(exit);
    };
  });

  const statusNow = (): unknown => (actor.getSnapshot() as { status?: unknown } | undefined)?.status;
  // Subscribing to an actor that already ended calls complete or error at
  // once for "done" and "error", but nothing for "stopped": checked below.
  actor.subscribe({
    error: (err: unknown) => settle(errorExit(err)),
    complete: () => settle(statusNow() === "done" ? { kind: "normal" } : { kind: "shutdown" }),
  });
  if (!settled && statusNow() === "stopped") settle({ kind: "shutdown" });
  if (!settled) actor.start();

  return {
    exited,
    stop: () => actor.stop(),
  };
}
