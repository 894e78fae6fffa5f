/**
 * One timer for many deadlines: `schedule(deadline)` (a `performance.now()`
 * time) keeps the earliest one asked for; when it fires it is forgotten
 * before `fire` runs, so `fire` schedules the next. Infinity schedules
 * nothing. Used by the datagram endpoints (udp, epgm) for retries,
 * heartbeats and NAK back-off.
 */
export class EarliestTimer {
  readonly #fire: () => void;
  #timer: NodeJS.Timeout | undefined;
  #at = Infinity;
  #stopped = false;

  constructor(fire: () => void) {
    this.#fire = fire;
  }

  schedule(deadline: number): void {
    if (this.#stopped || deadline >= this.#at) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#at = deadline;
    this.#timer = setTimeout(this.#onTimeout, Math.max(0, Math.ceil(deadline - performance.now())));
  }

  /** Cancels the pending deadline and refuses later ones. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  readonly #onTimeout = (): void => {
    this.#timer = undefined;
    this.#at = Infinity;
    if (!this.#stopped) this.#fire();
  };
}
