/**
 * Heartbeats and peer expiry (docs/protocols/udp.md §3.2), pure: a side sends
 * PING after `heartbeat` ms without sending anything, and the peer expires
 * after `peerTimeout` ms without any valid datagram from it.
 *
 * A check that comes more than {@link LATE_MS} after the expiry was due ran
 * late: the thread was blocked or starved, and what the peer sent meanwhile
 * is still unread in the socket (timers run before I/O). Such a check defers
 * once (the caller polls again at once, after I/O); the next one decides.
 */
export const LATE_MS = 100;

export class Liveness {
  readonly heartbeat: number;
  readonly peerTimeout: number;
  #lastSent: number;
  #lastHeard: number;
  #token = 0;
  #deferred = false;

  constructor(heartbeat: number, peerTimeout: number, now: number) {
    this.heartbeat = heartbeat;
    this.peerTimeout = peerTimeout;
    this.#lastSent = now;
    this.#lastHeard = now;
  }

  /** Any datagram sent to the peer. */
  sent(now: number): void {
    if (now > this.#lastSent) this.#lastSent = now;
  }

  /** Any valid datagram heard from the peer. */
  heard(now: number): void {
    if (now > this.#lastHeard) this.#lastHeard = now;
    this.#deferred = false;
  }

  /** Is a PING due? */
  pingDue(now: number): boolean {
    // Compared as nextDeadline() computes it (a sum, not a difference): with
    // fractional times `now - a >= b` can be false at `now === a + b`, and a
    // caller polling at nextDeadline() would spin without the ping going out.
    return this.heartbeat > 0 && now >= this.#lastSent + this.heartbeat;
  }

  /** A fresh token for the next PING. */
  nextToken(): number {
    this.#token = (this.#token + 1) >>> 0;
    return this.#token;
  }

  /** Has the peer been silent too long? (A late check defers once: see the class comment.) */
  expired(now: number): boolean {
    const due = this.#lastHeard + this.peerTimeout;
    if (now < due) return false;
    if (now - due > LATE_MS && !this.#deferred) {
      this.#deferred = true;
      return false;
    }
    this.#deferred = false;
    return true;
  }

  /** When to look again: the next PING or the expiry, whichever is first. */
  nextDeadline(): number {
    const expiry = this.#lastHeard + this.peerTimeout;
    return this.heartbeat > 0 ? Math.min(expiry, this.#lastSent + this.heartbeat) : expiry;
  }
}
