import * as zmq from "zeromq";
import { VtxError } from "./errors.js";
import { closeAtExit } from "./exit-quiesce.js";

/**
 * Version of the control codec. Bumped whenever a control message changes
 * shape; a mailbox refuses messages of another version with a coded error
 * instead of misreading them.
 */
export const MAILBOX_CODEC_VERSION = 1;

/** Encodes one control message. Strings are copied by zeromq.js into C++-owned
 *  memory, so a control message never points into the sending thread's heap. */
export function encodeMail(msg: unknown): string {
  return JSON.stringify({ v: MAILBOX_CODEC_VERSION, m: msg });
}

export function decodeMail<T>(bytes: Buffer): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch (cause) {
    throw new VtxError("VTX_MAILBOX_MALFORMED", "control message is not valid JSON", { cause });
  }
  const p = parsed as { v?: unknown; m?: unknown };
  if (p === null || typeof p !== "object" || p.v !== MAILBOX_CODEC_VERSION) {
    throw new VtxError("VTX_MAILBOX_VERSION", `control message version ${String(p?.v)} is not ${MAILBOX_CODEC_VERSION}`);
  }
  return p.m as T;
}

/**
 * Typed messages between two actors (usually on different threads) over an
 * inproc PAIR on the global context — the only context shared with worker
 * threads. `send` never throws EBUSY: messages are queued and written one at
 * a time.
 */
export class Mailbox<TSend, TRecv> implements AsyncIterable<TRecv> {
  readonly #socket: zmq.Pair;
  readonly address: string;
  #queue: string[] = [];
  #flushing = false;
  #closed = false;

  private constructor(socket: zmq.Pair, address: string) {
    this.#socket = socket;
    this.address = address;
  }

  static async bind<S, R>(address: string): Promise<Mailbox<S, R>> {
    const s = new zmq.Pair({ linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0 });
    closeAtExit(s);
    await s.bind(address);
    return new Mailbox<S, R>(s, address);
  }

  static connect<S, R>(address: string): Mailbox<S, R> {
    const s = new zmq.Pair({ linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0 });
    closeAtExit(s);
    s.connect(address);
    return new Mailbox<S, R>(s, address);
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(msg: TSend): void {
    if (this.#closed) return;
    this.#queue.push(encodeMail(msg));
    if (!this.#flushing) void this.#flush();
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const batch = this.#queue;
        this.#queue = [];
        for (const m of batch) {
          if (this.#closed) return;
          await this.#socket.send(m);
        }
      }
    } catch {
      // The socket was closed under us: the peer is gone, nothing to deliver to.
    } finally {
      this.#flushing = false;
    }
  }

  async receive(): Promise<TRecv> {
    const [frame] = await this.#socket.receive();
    if (!frame) throw new VtxError("VTX_MAILBOX_MALFORMED", "empty control message");
    return decodeMail<TRecv>(frame);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TRecv> {
    while (!this.#closed) {
      let msg: TRecv;
      try {
        msg = await this.receive();
      } catch (err) {
        if (this.#closed || (err as { code?: string }).code === "EAGAIN") return;
        throw err;
      }
      yield msg;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.close();
  }
}
