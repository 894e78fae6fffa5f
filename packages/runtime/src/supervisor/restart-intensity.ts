/** What {@link RestartIntensity.record} found. */
export interface RestartVerdict {
  /** More than `intensity` restarts within the last `period` ms. */
  readonly exceeded: boolean;
  /** Restarts within the window, this one included. */
  readonly inWindow: number;
  /** Restarts of this child within the window, this one included. */
  readonly childInWindow: number;
}

/**
 * OTP restart intensity: a sliding window of restart times. A supervisor may
 * restart at most `intensity` times within any `period` ms; the restart that
 * would be number `intensity + 1` in the window means the children keep
 * failing and restarting them does not help, so the supervisor gives up.
 *
 * Times come from a monotonic clock (injectable so the window logic can be
 * tested on exact times).
 */
export class RestartIntensity {
  readonly intensity: number;
  readonly period: number;
  readonly #now: () => number;
  /** Oldest first. Never longer than `intensity + 1` entries. */
  #restarts: Array<{ at: number; id: string }> = [];

  constructor(intensity: number, period: number, now: () => number = () => performance.now()) {
    this.intensity = intensity;
    this.period = period;
    this.#now = now;
  }

  /** Records one restart of child `id` now and says whether it is one too many. */
  record(id: string): RestartVerdict {
    const now = this.#now();
    // A restart exactly `period` ms old has left the window: "within period".
    this.#restarts = this.#restarts.filter((r) => now - r.at < this.period);
    this.#restarts.push({ at: now, id });
    // Past the limit the supervisor stops anyway; keep the list bounded.
    if (this.#restarts.length > this.intensity + 1) this.#restarts.shift();
    const inWindow = this.#restarts.length;
    const childInWindow = this.#restarts.reduce((n, r) => (r.id === id ? n + 1 : n), 0);
    return { exceeded: inWindow > this.intensity, inWindow, childInWindow };
  }
}
