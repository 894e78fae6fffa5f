/**
 * The source's transmit window (RFC 3208 §3, "transmit window"): the APDUs
 * sent, kept for repair until they are older than the recovery interval
 * (ZMQ_RECOVERY_IVL) or the window holds more than its size allows. The
 * trailing edge advertised in ODATA and SPMs is the oldest sqn still held.
 * Pure: the caller passes the clock.
 */
import { sqnAdd, sqnDiff } from "./sequence.js";

export interface TxWindowOptions {
  /** APDUs held at most. */
  maxPackets: number;
  /** Octets held at most. */
  maxBytes: number;
  /** An APDU older than this (ms) is dropped from the trail. */
  maxAge: number;
}

interface Held {
  apdu: Uint8Array;
  at: number;
}

export class TxWindow {
  readonly #opts: TxWindowOptions;
  readonly #held = new Map<number, Held>();
  #trail: number;
  #lead: number;
  #bytes = 0;

  /** An empty window: trail = `first`, lead = `first` - 1. */
  constructor(opts: TxWindowOptions, first = 0) {
    this.#opts = opts;
    this.#trail = first >>> 0;
    this.#lead = sqnAdd(first, -1);
  }

  get trail(): number {
    return this.#trail;
  }

  get lead(): number {
    return this.#lead;
  }

  get size(): number {
    return this.#held.size;
  }

  /** Adds the next APDU; returns its sequence number. */
  push(apdu: Uint8Array, now: number): number {
    this.#lead = sqnAdd(this.#lead, 1);
    this.#held.set(this.#lead, { apdu, at: now });
    this.#bytes += apdu.length;
    this.expire(now);
    return this.#lead;
  }

  /** The APDU of `sqn` while the window still holds it. */
  get(sqn: number): Uint8Array | undefined {
    return this.#held.get(sqn >>> 0)?.apdu;
  }

  /** Drops what is too old or over the size bounds from the trailing edge. */
  expire(now: number): void {
    const o = this.#opts;
    while (sqnDiff(this.#lead, this.#trail) >= 0) {
      const h = this.#held.get(this.#trail);
      if (h === undefined) break;
      // The newest APDU always stays: a repair for it may still come.
      const over = this.#held.size > o.maxPackets || this.#bytes > o.maxBytes || now - h.at > o.maxAge;
      if (!over || this.#trail === this.#lead) break;
      this.#held.delete(this.#trail);
      this.#bytes -= h.apdu.length;
      this.#trail = sqnAdd(this.#trail, 1);
    }
  }
}
