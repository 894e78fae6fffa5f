/**
 * Counts what one udp:// endpoint drops (bad datagrams, stale sessions,
 * reassembly failures, a slow application in plain mode) by code, and
 * reports the counts to the application as `peer-error` events, at most
 * one per code per report interval, so a flood of garbage costs a counter
 * increment per datagram and not a control message each.
 *
 * The event's `error` is `{ code, message, count, total }`: `count` drops of
 * that code since the previous report, `total` since the endpoint started.
 * Read it with {@link readDropReport}.
 */
import type { HostEvent, WireError } from "@vtx/runtime/driver-kit";

/** What a drop report carries beyond `{code, message}`. */
export interface DropReport extends WireError {
  /** Drops of `code` since the previous report of that code. */
  count: number;
  /** Drops of `code` since the endpoint was bound or connected. */
  total: number;
}

export class DropCounters {
  readonly #emit: (e: HostEvent) => void;
  readonly #id: string;
  readonly #interval: number;
  readonly #scheme: string;
  readonly #totals = new Map<string, number>();
  readonly #reported = new Map<string, number>();
  readonly #lastPeer = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  #lastReport = -Infinity;
  #closed = false;

  /** `scheme` names the driver in messages and peers (udp, epgm). */
  constructor(emit: (e: HostEvent) => void, id: string, interval: number, scheme = "udp") {
    this.#emit = emit;
    this.#id = id;
    this.#interval = interval;
    this.#scheme = scheme;
  }

  /** Count one drop of `code` (a datagram, a message or a partial message) from `peer` (host:port). */
  count(code: string, peer: string, n = 1): void {
    this.#totals.set(code, (this.#totals.get(code) ?? 0) + n);
    this.#lastPeer.set(code, peer);
    if (this.#timer !== undefined || this.#closed) return;
    const wait = Math.max(0, this.#lastReport + this.#interval - performance.now());
    this.#timer = setTimeout(() => this.#report(), wait);
    this.#timer.unref();
  }

  /** Totals by code since start. */
  get totals(): Record<string, number> {
    return Object.fromEntries(this.#totals);
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #report(): void {
    this.#timer = undefined;
    this.#lastReport = performance.now();
    for (const [code, total] of this.#totals) {
      const count = total - (this.#reported.get(code) ?? 0);
      if (count <= 0) continue;
      this.#reported.set(code, total);
      const peer = this.#lastPeer.get(code) ?? "";
      const error: DropReport = { code, message: `${this.#scheme}: dropped ${count} (${total} in all) for ${code}, last from ${peer}`, count, total };
      this.#emit({ type: "peer-error", id: this.#id, peer: `${this.#scheme}://${peer}`, error });
    }
  }
}

/**
 * The counts of a udp:// drop report (a `peer-error` event whose error has
 * `count` and `total`), or undefined for any other event.
 */
export function readDropReport(event: { type: string; error?: WireError | undefined }): DropReport | undefined {
  const e = event.error as Partial<DropReport> | undefined;
  if (event.type !== "peer-error" || e === undefined || typeof e.count !== "number" || typeof e.total !== "number") return undefined;
  return { code: e.code ?? "", message: e.message ?? "", count: e.count, total: e.total };
}
