import type { VtxError } from "../../../src/errors.js";
import {
  FLAG_MORE,
  ZmtpEngine,
  encodeCommandFrame,
  encodeGreeting,
  encodeMessage,
  encodeMetadata,
  encodeReady,
  type ZmtpEngineOptions,
  type ZmtpEngineSink,
  type ZmtpPeer,
} from "../../../src/zmtp/index.js";

/** A sink that records everything an engine reports, and can forward what it sends. */
export class Recorder implements ZmtpEngineSink {
  readonly sent: Buffer[] = [];
  readonly messages: Buffer[][] = [];
  readonly subscribes: string[] = [];
  readonly cancels: string[] = [];
  readonly pings: Array<{ ttlMs: number; context: string }> = [];
  readonly pongs: string[] = [];
  readonly errors: VtxError[] = [];
  peer: ZmtpPeer | undefined;
  /** Where sent bytes go (another engine's push), if anywhere. */
  forward: ((bytes: Buffer) => void) | undefined;

  send(bytes: Buffer): void {
    this.sent.push(bytes);
    this.forward?.(bytes);
    this.#wake();
  }
  ready(peer: ZmtpPeer): void {
    this.peer = peer;
    this.#wake();
  }
  message(frames: Buffer[]): void {
    // Copy: the test may keep them after the chunk is gone.
    this.messages.push(frames.map((f) => Buffer.from(f)));
    this.#wake();
  }
  subscribe(topic: Buffer): void {
    this.subscribes.push(topic.toString("latin1"));
    this.#wake();
  }
  cancel(topic: Buffer): void {
    this.cancels.push(topic.toString("latin1"));
    this.#wake();
  }
  ping(ttlMs: number, context: Buffer): void {
    this.pings.push({ ttlMs, context: context.toString("latin1") });
    this.#wake();
  }
  pong(context: Buffer): void {
    this.pongs.push(context.toString("latin1"));
    this.#wake();
  }
  error(err: VtxError): void {
    this.errors.push(err);
    this.#wake();
  }

  /** Wakes waiters after a change the sink does not see (e.g. the transport closed). */
  notify(): void {
    this.#wake();
  }

  /** All bytes sent so far, concatenated. */
  get bytes(): Buffer {
    return Buffer.concat(this.sent);
  }

  /** Resolves when `predicate` holds; rejects clearly after `ms`. */
  async until(predicate: () => boolean, what: string, ms = 2000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  #wake(): void {
    // Any recorder's event wakes every waiter: predicates often look at both ends.
    for (const w of waiters.splice(0)) w();
  }
}

const waiters: Array<() => void> = [];

export type Delivery = "sync" | "bytewise" | "async";

/** Two engines wired back to back through their sinks. */
export function enginePair(
  a: ZmtpEngineOptions,
  b: ZmtpEngineOptions,
  delivery: Delivery = "sync",
): { a: ZmtpEngine; b: ZmtpEngine; ra: Recorder; rb: Recorder } {
  const ra = new Recorder();
  const rb = new Recorder();
  const ea = new ZmtpEngine(a, ra);
  const eb = new ZmtpEngine(b, rb);
  ra.forward = deliver(eb, delivery);
  rb.forward = deliver(ea, delivery);
  ea.start();
  eb.start();
  return { a: ea, b: eb, ra, rb };
}

/**
 * A FIFO wire into `to`: bytes written while an earlier write is still being
 * pushed (an engine answering from inside a callback) queue behind it, as
 * they would in a socket's send buffer.
 */
export function wire(to: { push(chunk: Uint8Array): void }, pieces: (bytes: Buffer) => Buffer[] = (b) => [b]): (bytes: Buffer) => void {
  const queue: Buffer[] = [];
  let pumping = false;
  return (bytes) => {
    for (const p of pieces(bytes)) queue.push(Buffer.from(p));
    if (pumping) return;
    pumping = true;
    try {
      while (queue.length > 0) to.push(queue.shift()!);
    } finally {
      pumping = false;
    }
  };
}

function deliver(to: ZmtpEngine, delivery: Delivery): (bytes: Buffer) => void {
  switch (delivery) {
    case "sync":
      return wire(to);
    case "bytewise":
      return wire(to, (bytes) => Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1)));
    case "async":
      return (bytes) => {
        const copy = Buffer.from(bytes);
        setImmediate(() => to.push(copy));
      };
  }
}

/** Bytes a hand-written NULL peer sends: greeting + READY with the given properties. */
export function rawNullPeer(socketType: string | undefined, options: { minor?: number; extra?: Array<[string, string]> } = {}): Buffer {
  const props: Array<[string, string]> = socketType === undefined ? [] : [["Socket-Type", socketType]];
  props.push(...(options.extra ?? []));
  return Buffer.concat([
    encodeGreeting({ mechanism: "NULL", asServer: false, minor: options.minor ?? 1 }),
    encodeCommandFrame(encodeReady(encodeMetadata(props))),
  ]);
}

/** Splits what an engine sent (after its 64-byte greeting) into frames: [flags, body]. */
export function framesOf(bytes: Buffer): Array<{ flags: number; body: Buffer }> {
  const out: Array<{ flags: number; body: Buffer }> = [];
  let at = 64;
  while (at < bytes.length) {
    const flags = bytes[at]!;
    let size: number;
    if (flags & 0x02) {
      size = Number(bytes.readBigUInt64BE(at + 1));
      at += 9;
    } else {
      size = bytes[at + 1]!;
      at += 2;
    }
    out.push({ flags, body: bytes.subarray(at, at + size) });
    at += size;
  }
  return out;
}

export const more = FLAG_MORE;
export { encodeMessage };
