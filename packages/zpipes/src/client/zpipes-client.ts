import * as zmq from "zeromq";
import { decode, encode, encodeWriteParts, FRAME, MAX_CHUNK } from "../codec/index.js";
import type { ZpipesMessage } from "../codec/index.js";
import { VtxError, ZPIPES_ERR } from "../errors.js";
import { brokerEndpoint } from "../broker/broker.js";
import { DirectDealer } from "../transport/direct-dealer.js";

export type PipeMode = "reader" | "writer";

export interface ZpipesClientOptions {
  /** Broker name (endpoint `ipc://@/zpipes/<broker>`). Default "local". */
  broker?: string;
  /** Explicit broker endpoint; overrides `broker`. */
  endpoint?: string;
  /** How long INPUT/OUTPUT may wait for the broker before ZPIPES_NO_BROKER. Default 5000 ms. */
  connectTimeout?: number;
  /**
   * PING interval while the pipe is open (ms). A broker that answers nothing
   * for three intervals is taken as gone: every pending call fails with
   * ZPIPES_NO_BROKER. It also keeps the broker from expiring this client
   * during long waits. Default 5000; 0 disables.
   */
  heartbeat?: number;
  /**
   * How the DEALER connects and closes. Default: libzmq's own (native
   * endpoints). For a virtual endpoint (ztcp://, ws://, ...) pass a vtx
   * manager's: `{ connect: (s, ep) => vtx.connect(s, ep), close: (s) => vtx.close(s) }`.
   */
  socketHooks?: ClientSocketHooks;
  /**
   * Speak ZMTP to the broker from this thread, without libzmq, on ipc:// and
   * tcp:// endpoints (default true; ignored with `socketHooks`). Same bytes
   * on the wire; several times fewer system calls per chunk. A connection
   * lost after the open fails the client at once (ZPIPES_NO_BROKER) where
   * libzmq would reconnect under a new identity the broker does not know.
   */
  direct?: boolean;
}

export interface ClientSocketHooks {
  connect(dealer: zmq.Dealer, endpoint: string): Promise<unknown>;
  close(dealer: zmq.Dealer): Promise<void>;
}

interface Call {
  kind: "open" | "read" | "write" | "close" | "ping";
  resolve: (value: Buffer | null) => void;
  reject: (err: VtxError) => void;
}

/**
 * A ZPIPES client: one DEALER, one pipe end, opened for reading or writing.
 *
 * Calls may overlap (several writes or reads in flight); the broker answers
 * them in order, and so they settle in order. Errors are {@link VtxError}s:
 * ZPIPES_TIMEOUT (the original's EAGAIN), ZPIPES_FAILED (EINTR),
 * ZPIPES_INVALID (EBADF), ZPIPES_NO_BROKER, ZPIPES_CLOSED.
 */
export class ZpipesClient {
  readonly pipe: string;
  readonly mode: PipeMode;
  readonly endpoint: string;
  #dealer: zmq.Dealer | null = null;
  #direct: DirectDealer | null = null;
  readonly #calls: Call[] = [];
  #callsHead = 0;
  readonly #pings: Call[] = [];
  #out: Uint8Array[] = [];
  #sending = false;
  #closed = false;
  #closing: Promise<void> | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #lastHeard = Date.now();
  #failure: VtxError | null = null;
  #hooks: ClientSocketHooks | null = null;

  private constructor(pipe: string, mode: PipeMode, endpoint: string) {
    this.pipe = pipe;
    this.mode = mode;
    this.endpoint = endpoint;
  }

  /** Open `pipe` on a broker. A leading `>` opens it for writing, as in the original's zpipes_client_new. */
  static async open(pipe: string, options?: ZpipesClientOptions): Promise<ZpipesClient> {
    return pipe.startsWith(">") ? ZpipesClient.openWriter(pipe.slice(1), options) : ZpipesClient.openReader(pipe, options);
  }

  static async openReader(pipe: string, options?: ZpipesClientOptions): Promise<ZpipesClient> {
    return ZpipesClient.#open(pipe, "reader", options ?? {});
  }

  static async openWriter(pipe: string, options?: ZpipesClientOptions): Promise<ZpipesClient> {
    return ZpipesClient.#open(pipe, "writer", options ?? {});
  }

  static async #open(pipe: string, mode: PipeMode, options: ZpipesClientOptions): Promise<ZpipesClient> {
    const endpoint = options.endpoint ?? brokerEndpoint(options.broker ?? "local");
    const c = new ZpipesClient(pipe, mode, endpoint);
    const frame = encode(mode === "reader" ? { type: "INPUT", pipename: pipe } : { type: "OUTPUT", pipename: pipe });
    if (options.socketHooks === undefined && options.direct !== false) {
      c.#direct =
        DirectDealer.create(endpoint, {
          message: (frames) => {
            c.#lastHeard = Date.now();
            if (frames.length > 0) c.#settle(frames[0]!);
          },
          failed: (err) => c.#shutdown(new VtxError(ZPIPES_ERR.NO_BROKER, `lost the broker at ${endpoint}: ${err.message}`, { cause: err })),
          unavailable: (queued) => {
            // No vtx broker under node's form of an abstract name: libzmq's.
            c.#direct = null;
            if (c.#closed) return;
            c.#attachDealer().connect(endpoint);
            for (const parts of queued) c.#out.push(join(parts));
            if (!c.#sending) void c.#flush();
          },
        }) ?? null;
    }
    if (c.#direct === null) {
      const dealer = c.#attachDealer();
      if (options.socketHooks) {
        c.#hooks = options.socketHooks;
        try {
          await options.socketHooks.connect(dealer, endpoint);
        } catch (err) {
          c.#shutdown(new VtxError(ZPIPES_ERR.NO_BROKER, `cannot connect to ${endpoint}: ${(err as Error).message}`, { cause: err }));
          throw err;
        }
      } else {
        dealer.connect(endpoint);
      }
    }
    const connectTimeout = options.connectTimeout ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        c.#call("open", [frame]),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new VtxError(ZPIPES_ERR.NO_BROKER, `no ZPIPES broker answered at ${endpoint} within ${connectTimeout} ms`)),
            connectTimeout,
          );
        }),
      ]);
    } catch (err) {
      c.#shutdown(err as VtxError);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    const hb = options.heartbeat ?? 5000;
    if (hb > 0) {
      c.#heartbeat = setInterval(() => c.#beat(hb), hb);
      c.#heartbeat.unref();
    }
    return c;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Write one chunk (an array of parts is sent as one chunk, their
   * concatenation). Resolves on WRITE_OK (the broker holds the chunk within
   * the pipe's budget). `timeoutMs` 0 waits forever (for a reader, or room).
   * Over a direct connection (the default on tcp:// and ipc://) the chunk
   * is written to the socket by reference, as node streams do: do not change
   * it until the returned promise settles.
   */
  async write(chunk: Uint8Array | readonly Uint8Array[], timeoutMs = 0): Promise<void> {
    this.#check("writer", "write");
    const parts = chunk instanceof Uint8Array ? [chunk] : chunk;
    let length = 0;
    for (const p of parts) length += p.length;
    if (length > MAX_CHUNK) throw new VtxError(ZPIPES_ERR.INVALID, `chunk of ${length} bytes exceeds ${MAX_CHUNK}`);
    await this.#call("write", encodeWriteParts(parts, timeoutMs));
  }

  /**
   * Read exactly `size` bytes, fewer only when the writer has gone; null at
   * the end of the pipe. `timeoutMs` applies while nothing is queued (0 = forever).
   */
  async read(size: number, timeoutMs = 0): Promise<Buffer | null> {
    this.#check("reader", "read");
    return this.#call("read", [encode({ type: "READ", size, timeout: timeoutMs })]);
  }

  /** PING the broker; rejects with ZPIPES_NO_BROKER if no PING_OK within `timeoutMs`. */
  async ping(timeoutMs = 5000): Promise<void> {
    if (this.#failure) throw this.#failure;
    if (this.#closed) throw new VtxError(ZPIPES_ERR.CLOSED, "client is closed");
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.#call("ping", [FRAME.PING]),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new VtxError(ZPIPES_ERR.NO_BROKER, `no PING_OK within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * CLOSE the pipe end (pending calls are answered *_FAILED by the broker),
   * then close the socket. Gives up waiting after `timeoutMs` (0: waits
   * until answered, or until the heartbeat finds the broker gone).
   *
   * For a writer, CLOSE_OK is the broker's word that it holds everything
   * written (and, when the reader is on another broker, that everything
   * arrived there). So a writer's close rejects with ZPIPES_FAILED when the
   * broker answers CLOSE_FAILED (the chunks did not all reach the reader's
   * broker) and with ZPIPES_TIMEOUT when no answer comes in time. A
   * reader's close always resolves. The socket is closed either way.
   */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.#closing) return this.#closing;
    if (this.#closed) return;
    this.#closing = (async () => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          this.#call("close", [FRAME.CLOSE]),
          new Promise<void>((resolve, reject) => {
            if (timeoutMs <= 0) return;
            timer = setTimeout(() => {
              if (this.mode === "writer") reject(new VtxError(ZPIPES_ERR.TIMEOUT, `CLOSE not answered within ${timeoutMs} ms: delivery of what was written is not confirmed`));
              else resolve();
            }, timeoutMs);
          }),
        ]);
      } catch (err) {
        // The pipe is going away either way; a writer is told what it may have lost.
        if (this.mode === "writer" && (err as VtxError).code !== ZPIPES_ERR.CLOSED) throw err;
      } finally {
        clearTimeout(timer);
        this.#shutdown(new VtxError(ZPIPES_ERR.CLOSED, "client closed"));
      }
    })();
    return this.#closing;
  }

  #check(mode: PipeMode, op: string): void {
    // A client closed by a failure (broker gone) keeps saying so.
    if (this.#failure) throw this.#failure;
    if (this.#closed || this.#closing) throw new VtxError(ZPIPES_ERR.CLOSED, `${op} on a closed client`);
    if (this.mode !== mode) throw new VtxError(ZPIPES_ERR.INVALID, `${op} on a pipe opened as ${this.mode}`);
  }

  /** A libzmq DEALER for this client, already receiving (connected by the caller). */
  #attachDealer(): zmq.Dealer {
    const dealer = (this.#dealer = new zmq.Dealer({ linger: 0, sendHighWaterMark: 10_000, receiveHighWaterMark: 10_000 }));
    void this.#receive(dealer);
    return dealer;
  }

  /**
   * Sends one frame, given as pieces: by reference over a direct
   * connection, joined (one copy) for libzmq. Settles with the reply.
   */
  #call(kind: Call["kind"], parts: readonly Uint8Array[]): Promise<Buffer | null> {
    return new Promise<Buffer | null>((resolve, reject) => {
      if (this.#closed) {
        reject(new VtxError(ZPIPES_ERR.CLOSED, "client is closed"));
        return;
      }
      (kind === "ping" ? this.#pings : this.#calls).push({ kind, resolve, reject });
      if (this.#direct !== null) {
        this.#direct.send(parts);
        return;
      }
      this.#out.push(join(parts));
      if (!this.#sending) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#sending = true;
    try {
      while (this.#out.length > 0 && !this.#closed) {
        const batch = this.#out;
        this.#out = [];
        for (const frame of batch) await this.#dealer!.send(frame);
      }
    } catch (err) {
      if (!this.#closed) this.#shutdown(new VtxError(ZPIPES_ERR.NO_BROKER, `send failed: ${(err as Error).message}`, { cause: err }));
    } finally {
      this.#sending = false;
    }
  }

  async #receive(dealer: zmq.Dealer): Promise<void> {
    for (;;) {
      let frame: Buffer | undefined;
      try {
        [frame] = await dealer.receive();
      } catch {
        return; // socket closed
      }
      this.#lastHeard = Date.now();
      if (frame !== undefined) this.#settle(frame);
    }
  }

  #settle(frame: Buffer): void {
    let m: ZpipesMessage;
    try {
      m = decode(frame);
    } catch (err) {
      this.#failNext(new VtxError(ZPIPES_ERR.PROTOCOL, `undecodable reply: ${(err as Error).message}`, { cause: err }));
      return;
    }
    if (m.type === "PING_OK") {
      this.#pings.shift()?.resolve(null);
      return;
    }
    const call = this.#calls[this.#callsHead];
    if (call === undefined) return; // a reply to nothing we asked: ignore
    this.#calls[this.#callsHead++] = undefined as unknown as Call;
    if (this.#callsHead === this.#calls.length) {
      this.#calls.length = 0;
      this.#callsHead = 0;
    }
    const fail = (code: string, msg: string): void => call.reject(new VtxError(code, msg));
    const reason = (r: string): string => (r === "" ? "" : `: ${r}`);
    switch (m.type) {
      case "INVALID":
        return fail(ZPIPES_ERR.INVALID, `broker answered INVALID to ${call.kind}`);
      case "INPUT_OK":
      case "OUTPUT_OK":
        return call.kind === "open" ? call.resolve(null) : fail(ZPIPES_ERR.PROTOCOL, `${m.type} for ${call.kind}`);
      case "INPUT_FAILED":
      case "OUTPUT_FAILED":
        return fail(ZPIPES_ERR.FAILED, `cannot open pipe '${this.pipe}'${reason(m.reason)}`);
      case "READ_OK":
        return call.kind === "read" ? call.resolve(m.chunk as Buffer) : fail(ZPIPES_ERR.PROTOCOL, `READ_OK for ${call.kind}`);
      case "READ_END":
        return call.kind === "read" ? call.resolve(null) : fail(ZPIPES_ERR.PROTOCOL, `READ_END for ${call.kind}`);
      case "READ_TIMEOUT":
        return fail(ZPIPES_ERR.TIMEOUT, "read timed out");
      case "READ_FAILED":
        return fail(ZPIPES_ERR.FAILED, `read failed${reason(m.reason)}`);
      case "WRITE_OK":
        return call.kind === "write" ? call.resolve(null) : fail(ZPIPES_ERR.PROTOCOL, `WRITE_OK for ${call.kind}`);
      case "WRITE_TIMEOUT":
        return fail(ZPIPES_ERR.TIMEOUT, "write timed out");
      case "WRITE_FAILED":
        return fail(ZPIPES_ERR.FAILED, `write failed${reason(m.reason)}`);
      case "CLOSE_OK":
        return call.resolve(null);
      case "CLOSE_FAILED":
        return fail(ZPIPES_ERR.FAILED, `close failed${reason(m.reason)}`);
      default:
        return fail(ZPIPES_ERR.PROTOCOL, `unexpected ${m.type} from the broker`);
    }
  }

  #failNext(err: VtxError): void {
    const call = this.#calls[this.#callsHead];
    if (call === undefined) return;
    this.#callsHead++;
    call.reject(err);
  }

  #beat(interval: number): void {
    if (this.#closed) return;
    const outstanding = this.#pings.length > 0 || this.#callsHead < this.#calls.length;
    if (outstanding && Date.now() - this.#lastHeard > 3 * interval) {
      this.#shutdown(new VtxError(ZPIPES_ERR.NO_BROKER, `broker at ${this.endpoint} stopped answering`));
      return;
    }
    if (this.#pings.length === 0) this.#call("ping", [FRAME.PING]).catch(() => undefined);
  }

  /** Fail everything outstanding with `err` and close the socket. */
  #shutdown(err: VtxError): void {
    if (this.#closed) return;
    this.#closed = true;
    if (err.code !== ZPIPES_ERR.CLOSED) this.#failure = err;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    const calls = this.#calls.slice(this.#callsHead);
    this.#calls.length = 0;
    this.#callsHead = 0;
    const pings = this.#pings.splice(0);
    for (const c of [...calls, ...pings]) c.reject(err);
    void this.#direct?.close();
    const dealer = this.#dealer;
    if (dealer === null) return;
    if (this.#hooks) this.#hooks.close(dealer).catch(() => undefined);
    else dealer.close();
  }
}

/** One frame's pieces as one buffer: the piece itself when there is one. */
function join(parts: readonly Uint8Array[]): Uint8Array {
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
