import { VtxError } from "../errors.js";
import type { ChildHandle } from "./child-handle.js";
import { SupervisorCode } from "./supervisor-codes.js";

/**
 * When a child that exited is started again (OTP restart types):
 * - `permanent`: always.
 * - `transient`: only after an abnormal exit (`kind: "error"`).
 * - `temporary`: never; its spec is forgotten once it exits.
 */
export type RestartKind = "permanent" | "transient" | "temporary";

/**
 * How the supervisor stops a child (OTP shutdown):
 * - a number of ms: `stop()`, wait up to that long for `exited`, then kill;
 * - `"brutal_kill"`: kill at once, without asking;
 * - `"infinity"`: `stop()` and wait as long as it takes (for children that
 *   are supervisors themselves, or that must finish flushing).
 */
export type Shutdown = number | "brutal_kill" | "infinity";

/** Default shutdown timeout in ms, as OTP's for workers. */
export const DEFAULT_SHUTDOWN_MS = 5000;

/** What the supervisor needs to know to start and restart one child. */
export interface ChildSpec {
  /** Unique among the supervisor's children. */
  readonly id: string;
  /**
   * Starts one instance of the child. Throwing or rejecting is a failed
   * start: during the supervisor's `start()` it aborts the start; during a
   * restart it counts as one more restart towards the intensity.
   */
  readonly start: () => ChildHandle | Promise<ChildHandle>;
  /** Default `"permanent"`. */
  readonly restart?: RestartKind;
  /** Default {@link DEFAULT_SHUTDOWN_MS}. */
  readonly shutdown?: Shutdown;
  /**
   * Not OTP (whose start functions are synchronous): the most ms `start()`
   * may take before it counts as a failed start (VTX_SUPERVISOR_START_TIMEOUT);
   * a handle that arrives later is killed. Default: wait for ever, which
   * blocks the supervisor (including `stop()`) while a start hangs.
   */
  readonly startTimeout?: number;
}

/** A child spec with its defaults filled in. */
export interface ResolvedChildSpec {
  readonly id: string;
  readonly start: () => ChildHandle | Promise<ChildHandle>;
  readonly restart: RestartKind;
  readonly shutdown: Shutdown;
  readonly startTimeout: number | undefined;
}

/** Checks a spec and fills in its defaults; throws VTX_SUPERVISOR_BAD_SPEC. */
export function resolveChildSpec(spec: ChildSpec): ResolvedChildSpec {
  const bad = (why: string) => new VtxError(SupervisorCode.BAD_SPEC, `child spec ${JSON.stringify(spec?.id)}: ${why}`);
  if (typeof spec !== "object" || spec === null) throw new VtxError(SupervisorCode.BAD_SPEC, "child spec must be an object");
  if (typeof spec.id !== "string" || spec.id === "") throw bad("id must be a non-empty string");
  if (typeof spec.start !== "function") throw bad("start must be a function");
  const restart = spec.restart ?? "permanent";
  if (restart !== "permanent" && restart !== "transient" && restart !== "temporary") {
    throw bad(`restart must be permanent, transient or temporary, not ${String(restart)}`);
  }
  const shutdown = spec.shutdown ?? DEFAULT_SHUTDOWN_MS;
  const shutdownOk =
    shutdown === "brutal_kill" || shutdown === "infinity" || (typeof shutdown === "number" && Number.isFinite(shutdown) && shutdown >= 0);
  if (!shutdownOk) throw bad(`shutdown must be ms >= 0, "brutal_kill" or "infinity", not ${String(shutdown)}`);
  const startTimeout = spec.startTimeout;
  if (startTimeout !== undefined && !(Number.isFinite(startTimeout) && startTimeout > 0)) {
    throw bad(`startTimeout must be ms > 0, not ${String(startTimeout)}`);
  }
  // Called through the spec, so that a spec object with a method keeps its `this`.
  return { id: spec.id, start: () => spec.start(), restart, shutdown, startTimeout };
}
