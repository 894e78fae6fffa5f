import type { VtxError } from "../errors.js";
import type { ChildExit } from "./child-handle.js";

/** Why a supervisor stopped. `stopped` resolves with this; it never rejects. */
export type SupervisorStopped =
  /** `stop()` was called. */
  | { readonly reason: "normal" }
  /** Too many restarts (code VTX_SUPERVISOR_INTENSITY), or a child failed during `start()` (VTX_SUPERVISOR_START). */
  | { readonly reason: "VTX_SUPERVISOR_INTENSITY" | "VTX_SUPERVISOR_START"; readonly error: VtxError };

/** The supervisor's events and their payloads; see `Supervisor.on`. */
export interface SupervisorEvents {
  /** A child instance started (first start, restart, or restartChild). `restarts` counts its automatic restarts so far. */
  "child-started": { readonly id: string; readonly restarts: number };
  /**
   * A child instance ended. `initiatedBy: "child"` when it exited by itself
   * (this is the exit the restart decision is made on); `"supervisor"` when
   * the supervisor stopped it (terminateChild, a sibling's restart, stop).
   */
  "child-exited": {
    readonly id: string;
    readonly exit: ChildExit;
    readonly initiatedBy: "child" | "supervisor";
    /** The supervisor had to kill it (brutal_kill or shutdown timeout). */
    readonly killed: boolean;
  };
  /**
   * A child was started again by the supervisor's restart logic. `cause` is
   * the id of the child whose exit made the restart (itself for
   * one_for_one; a sibling for one_for_all and rest_for_one).
   */
  "child-restarted": { readonly id: string; readonly restarts: number; readonly cause: string };
  /** A child's `start()` threw or rejected. During a restart this is followed by another restart attempt (counted) or intensity-exceeded. */
  "child-start-failed": { readonly id: string; readonly error: VtxError };
  /** The restart that would have been one too many: the supervisor now stops all children and itself. */
  "intensity-exceeded": { readonly id: string; readonly restarts: number; readonly intensity: number; readonly period: number };
  /** The supervisor has stopped; all its children are stopped. Emitted once. */
  stopped: SupervisorStopped;
}
