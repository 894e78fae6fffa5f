/**
 * Decides, on a periodic tick, whether a peer has been silent too long.
 *
 * A tick that comes late (more than two intervals after the previous one)
 * ran after this thread was blocked or starved: what the peer sent meanwhile
 * is still unread in the socket (timers run before I/O), so such a tick
 * decides nothing and the next one, on time, does. The same rule guards the
 * zbroker's client expiry, ZRE peer expiry and the udp driver's liveness.
 */
export class SilenceWatch {
  readonly interval: number;
  readonly timeout: number;
  #lastTick: number;

  constructor(interval: number, timeout: number, now: number) {
    this.interval = interval;
    this.timeout = timeout;
    this.#lastTick = now;
  }

  /** Call on every tick: true when the peer, last heard at `lastHeard`, is to be dropped. */
  tick(now: number, lastHeard: number): boolean {
    const late = now - this.#lastTick > 2 * this.interval;
    this.#lastTick = now;
    return !late && now - lastHeard > this.timeout;
  }
}
