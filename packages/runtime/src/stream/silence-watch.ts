/**
 * Whether a periodic timer tick came late: more than two intervals after the
 * previous one. Such a tick ran after this thread was blocked or starved,
 * and what peers sent meanwhile is still unread in the sockets (timers run
 * before I/O), so a decision about silence must wait for the next tick, on
 * time. Used by the ZMTP heartbeat ({@link SilenceWatch}), the zbroker's
 * client expiry and ZRE peer expiry. (The udp driver's liveness, driven by
 * deadlines rather than a periodic tick, has its own form: udp/liveness.ts.)
 */
export class LateTicks {
  readonly interval: number;
  #lastTick: number;

  constructor(interval: number, now: number) {
    this.interval = interval;
    this.#lastTick = now;
  }

  /** Call on every tick: true when this one came late. */
  late(now: number): boolean {
    const late = now - this.#lastTick > 2 * this.interval;
    this.#lastTick = now;
    return late;
  }
}

/** Decides, on a periodic tick, whether a peer has been silent too long; a late tick decides nothing. */
export class SilenceWatch {
  readonly timeout: number;
  readonly #ticks: LateTicks;

  constructor(interval: number, timeout: number, now: number) {
    this.timeout = timeout;
    this.#ticks = new LateTicks(interval, now);
  }

  /** Call on every tick: true when the peer, last heard at `lastHeard`, is to be dropped. */
  tick(now: number, lastHeard: number): boolean {
    return !this.#ticks.late(now) && now - lastHeard > this.timeout;
  }
}
