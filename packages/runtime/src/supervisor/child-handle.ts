import { toWireError, type WireError } from "../errors.js";

/**
 * How a child ended. Errors are plain `{code, message}` data so that an exit
 * reported from a worker thread looks the same as one from this thread.
 *
 * - `normal`: the child finished its work (an XState actor reached a final
 *   state, an async task resolved).
 * - `shutdown`: the child stopped because it was asked to (`stop()`), or was
 *   stopped by someone else in an orderly way.
 * - `error`: anything else; this is the only abnormal exit, the one that
 *   makes a `transient` child restart (OTP: any reason other than `normal`,
 *   `shutdown` or `{shutdown, _}`).
 */
export type ChildExit =
  | { readonly kind: "normal" }
  | { readonly kind: "shutdown" }
  | { readonly kind: "error"; readonly error: WireError };

/**
 * What a started child gives back to its supervisor.
 *
 * The supervisor relies on three promises of the contract:
 * - `exited` settles exactly once, when the child has really finished (its
 *   resources released, e.g. its port closed), and never rejects. A rejection
 *   is tolerated and read as an `error` exit, but adapters should not rely on
 *   that.
 * - `stop()` asks for an orderly stop and returns at once; the child reports
 *   completion through `exited`. Calling it on a finished child is harmless.
 * - `kill()`, if present, stops the child at once (a worker's `terminate()`,
 *   abandoning a task). Without it the supervisor can only ask with `stop()`
 *   and, when the shutdown time is up, stop waiting.
 */
export interface ChildHandle {
  readonly exited: Promise<ChildExit>;
  stop(): void;
  kill?(): void;
}

/** `true` for the exits that make a `transient` child restart. */
export function isAbnormalExit(exit: ChildExit): boolean {
  return exit.kind === "error";
}

/**
 * The exit of an error: the error as plain data. Besides what
 * `toWireError` converts, a plain `{code, message}` object is taken as it
 * is: that is how an error crosses from a worker thread (an Error's own
 * `code` property does not survive structured clone).
 */
export function errorExit(err: unknown): ChildExit {
  if (isPlainWireError(err)) return { kind: "error", error: { code: err.code, message: err.message } };
  return { kind: "error", error: toWireError(err) };
}

function isPlainWireError(err: unknown): err is WireError {
  return (
    typeof err === "object" &&
    err !== null &&
    !(err instanceof Error) &&
    typeof (err as { code?: unknown }).code === "string" &&
    typeof (err as { message?: unknown }).message === "string"
  );
}

/**
 * `handle.exited`, hardened: a rejection or a value that is not a valid
 * {@link ChildExit} becomes an `error` exit, so the supervisor never sees a
 * rejected promise from a child it does not control.
 */
export function observeExit(handle: ChildHandle): Promise<ChildExit> {
  return Promise.resolve(handle.exited).then(
    (exit): ChildExit => (isChildExit(exit) ? exit : errorExit(new Error(`child reported an invalid exit: ${String(exit)}`))),
    (err: unknown) => errorExit(err),
  );
}

function isChildExit(value: unknown): value is ChildExit {
  if (typeof value !== "object" || value === null) return false;
  const kind = (value as { kind?: unknown }).kind;
  if (kind === "normal" || kind === "shutdown") return true;
  if (kind !== "error") return false;
  const error = (value as { error?: unknown }).error;
  return typeof error === "object" && error !== null && typeof (error as { code?: unknown }).code === "string";
}
