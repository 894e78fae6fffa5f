/**
 * A simulated lossy link between two protocol endpoints, in virtual time:
 * each datagram is dropped, duplicated and delayed at random (so datagrams
 * reorder). Deterministic for a given seed. Test helper, no sockets.
 */
import {
  Batcher,
  ReliableChannel,
  dispatchCommands,
  parseDatagram,
  type ReliableChannelOptions,
} from "../../src/udp/protocol.js";
import { Receiver } from "./pipeline.js";

/** mulberry32: a tiny seeded PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface LinkOptions {
  seed: number;
  loss: number;
  duplicate: number;
  /** Base one-way delay and random extra delay, ms. */
  delay: number;
  jitter: number;
}

interface InFlight {
  at: number;
  to: Endpoint;
  dg: Uint8Array;
}

export class Endpoint {
  readonly channel: ReliableChannel;
  readonly batcher: Batcher;
  readonly rx: Receiver;
  peer!: Endpoint;
  constructor(
    readonly link: Link,
    readonly name: string,
    reliable: boolean,
    options: Partial<ReliableChannelOptions>,
    maxDatagram: number,
  ) {
    // §4: the reassembly timeout applies to plain mode only.
    this.rx = new Receiver({ timeout: reliable ? Infinity : 1000 });
    this.channel = new ReliableChannel({ session: name === "a" ? 1 : 2, transmit: (dg) => link.send(this.peer, dg), ...options });
    this.batcher = new Batcher((room) => this.channel.send(room, reliable, link.now), { reliable, maxDatagram });
  }

  receive(dg: Uint8Array): void {
    this.rx.now = this.link.now;
    const h = parseDatagram(dg);
    this.channel.receive(h, dg, this.link.now, (d, off) => dispatchCommands(d, off, this.rx.sink));
  }
}

export class Link {
  now = 0;
  readonly random: () => number;
  #queue: InFlight[] = [];
  sent = 0;
  dropped = 0;

  constructor(readonly options: LinkOptions) {
    this.random = prng(options.seed);
  }

  send(to: Endpoint, dg: Uint8Array): void {
    this.sent++;
    // The channel may keep `dg` for retransmission: the wire gets a copy.
    const copies = this.random() < this.options.loss ? 0 : this.random() < this.options.duplicate ? 2 : 1;
    if (copies === 0) this.dropped++;
    for (let i = 0; i < copies; i++) {
      this.#queue.push({ at: this.now + this.options.delay + this.random() * this.options.jitter, to, dg: dg.slice() });
    }
  }

  /** Advance to the next event (a delivery or a timer) and run it; false if there is none. */
  step(endpoints: readonly Endpoint[]): boolean {
    let next = Infinity;
    for (const q of this.#queue) next = Math.min(next, q.at);
    for (const e of endpoints) next = Math.min(next, e.channel.nextDeadline(), e.rx.reassembler.nextDeadline());
    if (next === Infinity) return false;
    this.now = Math.max(this.now, next);
    const due = this.#queue.filter((q) => q.at <= this.now);
    this.#queue = this.#queue.filter((q) => q.at > this.now);
    for (const q of due) q.to.receive(q.dg);
    for (const e of endpoints) {
      e.batcher.flush();
      e.channel.poll(this.now);
      e.rx.reassembler.expire(this.now);
    }
    return true;
  }

  pair(reliable: boolean, options: Partial<ReliableChannelOptions> = {}, maxDatagram = 1200): [Endpoint, Endpoint] {
    const a = new Endpoint(this, "a", reliable, options, maxDatagram);
    const b = new Endpoint(this, "b", reliable, options, maxDatagram);
    a.peer = b;
    b.peer = a;
    return [a, b];
  }
}
