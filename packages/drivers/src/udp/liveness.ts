/**
 * Heartbeats and peer expiry (docs/protocols/udp.md §3.2), pure: a side sends
 * PING after `heartbeat` ms without sending anything, and the peer expires
 * after `peerTimeout` ms without any valid datagram from it.
 */
export class Liveness {
  readonly heartbeat: number;
  readonly peerTimeout: number;
  #lastSent: number;
  #lastHeard: number;
  #token = 0;

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

  /** Has the peer been silent too long? */
  expired(now: number): boolean {
    return now >= this.#lastHeard + this.peerTimeout;
  }

  /** When to look again: the next PING or the expiry, whichever is first. */
  nextDeadline(): number {
    const expiry = this.#lastHeard + this.peerTimeout;
    return this.heartbeat > 0 ? Math.min(expiry, this.#lastSent + this.heartbeat) : expiry;
  }
}
