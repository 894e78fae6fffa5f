import { VtxError } from "../errors.js";
import type { ChildSpec } from "./child-spec.js";
import { SupervisorCode } from "./supervisor-codes.js";

/**
 * Which children are restarted when one exits and is to be restarted (OTP):
 * - `one_for_one`: only that child.
 * - `one_for_all`: all children: the others are stopped in reverse start
 *   order, then all are started in start order.
 * - `rest_for_one`: that child and the children started after it, likewise.
 *
 * "Start order" is the order of the children list: initial children in the
 * order given, then children added with `startChild`, each appended.
 */
export type Strategy = "one_for_one" | "one_for_all" | "rest_for_one";

/** What a restart delay function is told. */
export interface RestartDelayInfo {
  /** The child whose exit (or failed restart) causes this restart. */
  readonly id: string;
  /** Restarts caused by this child within the current intensity window, this one included (1, 2, ...). */
  readonly attempt: number;
}

export interface SupervisorOptions {
  /** Default `"one_for_one"`. */
  readonly strategy?: Strategy;
  /** Most restarts allowed within `period` ms; one more stops the supervisor. Default 1 (OTP's). `Infinity` never gives up. */
  readonly intensity?: number;
  /** The intensity window in ms. Default 5000 (OTP's 5 s). */
  readonly period?: number;
  /** Children started by `start()`, in this order. */
  readonly children?: readonly ChildSpec[];
  /** Shown in error messages. */
  readonly name?: string;
  /**
   * Not OTP: a pause in ms between stopping a restart's children and
   * starting them again, or a function of the attempt (exponential
   * backoff, e.g. for a driver whose port is still held for a moment).
   * During the pause the children show `restarting`, and the supervisor
   * handles other exits and calls; `stop()` cancels pending restarts. The
   * restart counts towards the intensity when decided, before the pause.
   * Default 0: restart at once, as OTP does.
   */
  readonly restartDelay?: number | ((info: RestartDelayInfo) => number);
  /**
   * How long to wait for a child's exit after killing it before giving up
   * on it (see `shutdownChild`). Default 5000 ms.
   */
  readonly killTimeout?: number;
}

/** Options with defaults filled in. */
export interface ResolvedSupervisorOptions {
  readonly strategy: Strategy;
  readonly intensity: number;
  readonly period: number;
  readonly name: string;
  readonly restartDelay: (info: RestartDelayInfo) => number;
  readonly killTimeout: number;
}

export function resolveSupervisorOptions(opts: SupervisorOptions): ResolvedSupervisorOptions {
  const name = opts.name ?? "supervisor";
  const bad = (why: string) => new VtxError(SupervisorCode.BAD_SPEC, `${name}: ${why}`);
  const strategy = opts.strategy ?? "one_for_one";
  if (strategy !== "one_for_one" && strategy !== "one_for_all" && strategy !== "rest_for_one") {
    throw bad(`unknown strategy ${String(strategy)}`);
  }
  const intensity = opts.intensity ?? 1;
  if (!(intensity === Infinity || (Number.isInteger(intensity) && intensity >= 0))) throw bad(`intensity must be an integer >= 0 or Infinity`);
  const period = opts.period ?? 5000;
  if (!(Number.isFinite(period) && period > 0)) throw bad(`period must be a number of ms > 0`);
  const killTimeout = opts.killTimeout ?? 5000;
  if (!(Number.isFinite(killTimeout) && killTimeout >= 0)) throw bad(`killTimeout must be a number of ms >= 0`);
  const delay = opts.restartDelay ?? 0;
  let restartDelay: (info: RestartDelayInfo) => number;
  if (typeof delay === "function") restartDelay = delay;
  else if (Number.isFinite(delay) && delay >= 0) restartDelay = () => delay;
  else throw bad(`restartDelay must be ms >= 0 or a function`);
  return { strategy, intensity, period, name, restartDelay, killTimeout };
}
