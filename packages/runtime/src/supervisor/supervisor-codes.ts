/**
 * Stable error codes of the supervisor. Callers match on these, never on
 * messages.
 */
export const SupervisorCode = {
  /** More than `intensity` restarts within `period` ms: the tree was stopped. */
  INTENSITY: "VTX_SUPERVISOR_INTENSITY",
  /** A child failed to start while the supervisor was starting; it did not start. */
  START: "VTX_SUPERVISOR_START",
  /** A child's `start()` threw or rejected (startChild, restartChild). */
  CHILD_START: "VTX_SUPERVISOR_CHILD_START",
  /** A child's `start()` took longer than its `startTimeout` (the cause of a CHILD_START or START error). */
  START_TIMEOUT: "VTX_SUPERVISOR_START_TIMEOUT",
  /** Invalid supervisor options or child spec. */
  BAD_SPEC: "VTX_SUPERVISOR_BAD_SPEC",
  /** A child with that id is already present. */
  DUPLICATE_CHILD: "VTX_SUPERVISOR_DUPLICATE_CHILD",
  /** No child with that id. */
  NO_CHILD: "VTX_SUPERVISOR_NO_CHILD",
  /** The operation needs the child not to be running (restartChild, deleteChild). */
  CHILD_RUNNING: "VTX_SUPERVISOR_CHILD_RUNNING",
  /** The child waits for a restart (deleteChild): terminate it first. */
  CHILD_RESTARTING: "VTX_SUPERVISOR_CHILD_RESTARTING",
  /** The supervisor is not running (not started yet, stopping or stopped). */
  NOT_RUNNING: "VTX_SUPERVISOR_NOT_RUNNING",
  /** `start()` was called twice. */
  ALREADY_STARTED: "VTX_SUPERVISOR_ALREADY_STARTED",
  /** The exit code of a child the supervisor killed (kill() or gave up waiting). */
  KILLED: "VTX_SUPERVISOR_KILLED",
} as const;

export type SupervisorCode = (typeof SupervisorCode)[keyof typeof SupervisorCode];
