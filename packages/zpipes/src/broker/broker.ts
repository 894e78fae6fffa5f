import * as zmq from "zeromq";
import { readBursts } from "@vtx/runtime/zmq-fast";
import { LateTicks } from "@vtx/runtime/stream/silence-watch";
import { decode, MAX_CHUNK, MSG, peekId, FRAME } from "../codec/index.js";
import { DecodeError, VtxError, ZPIPES_ERR } from "../errors.js";
import { silentLogger, type Logger } from "../log.js";
import { ClientSession, type SessionHost } from "./client-session.js";
import { PipeRegistry } from "./pipe-registry.js";
import { DirectRouter, isDirectIdentity } from "../transport/direct-router.js";
import { brokerSlabPool } from "../transport/zmtp-connection.js";

export interface BrokerOptions {
  /** Broker name; the broker binds `ipc://@/zpipes/<name>`. Default "local". */
  name?: string;
  /** Extra endpoints to bind (any endpoint the ROUTER socket accepts). */
  endpoints?: string[];
  /** Skip the default `ipc://@/zpipes/<name>` endpoint (tests, tcp-only brokers). */
  noDefaultEndpoint?: boolean;
  /** Per-pipe byte budget for flow control. Default 4 MiB. */
  budget?: number;
  /** A client silent this many ms is dropped (its pipe closed silently). Default 60 000. */
  expiry?: number;
  /** Longest chunk accepted in a WRITE and longest READ served. Default MAX_CHUNK (8 MiB). */
  maxChunk?: number;
  /** Cap on bytes held broker-wide (queued + waiting writes). Default 256 MiB. */
  maxMemory?: number;
  /** Calls a client may queue behind a pending one. Default 16. */
  maxPipelined?: number;
  logger?: Logger;
  /**
   * How the ROUTER binds and closes. The default is libzmq's own (native
   * endpoints). To serve virtual endpoints too (udp://, ws:// through drivers),
   * pass a vtx manager's: `{ bind: (s, ep) => vtx.bind(s, ep), close: (s) => vtx.close(s) }`.
   */
  socketHooks?: BrokerSocketHooks;
  /**
   * Serve ipc:// and tcp:// endpoints without libzmq: ZMTP spoken by this
   * thread over node:net (default true). Same bytes on the wire, several
   * times fewer system calls per chunk. Other endpoints always go through
   * the libzmq ROUTER (and `socketHooks`).
   */
  direct?: boolean;
  /** A client connected directly must finish its ZMTP handshake within this many ms. Default 10 000. */
  handshakeTimeout?: number;
  /**
   * A directly connected client with more than this many bytes of replies
   * unread is disconnected (it does not read). Default: enough for every
   * call it may pipeline to get a maximal chunk, at least 64 MiB.
   */
  maxBacklog?: number;
  /**
   * Run READ/WRITE through a direct call when the client's machine is in
   * `reading`/`writing` (default true). With false every command goes through
   * the XState machine; both give the same replies.
   */
  fastPath?: boolean;
}

export interface BrokerSocketHooks {
  /** Bind `endpoint`; resolves with the endpoint actually bound. */
  bind(router: zmq.Router, endpoint: string): Promise<string>;
  /** Close the socket (and whatever the bind set up for it). */
  close(router: zmq.Router): Promise<void>;
}

/** Hands chunks that were written out back to the read-slab pool. */
function releaseAll(chunks: readonly Buffer[]): void {
  const pool = brokerSlabPool();
  for (let i = 0; i < chunks.length; i++) pool.release(chunks[i]!);
}

const NATIVE_HOOKS: BrokerSocketHooks = {
  async bind(router, endpoint) {
    await router.bind(endpoint);
    // tcp://host:* and :0 bind an ephemeral port: report the real one.
    return /^tcp:\/\/.*:(\*|0)$/.test(endpoint) ? (router.lastEndpoint ?? endpoint) : endpoint;
  },
  close(router) {
    router.close();
    return Promise.resolve();
  },
};

export interface BrokerStats {
  clients: number;
  pipes: number;
  /** Bytes held: queued in pipes plus chunks of WRITEs waiting for room. */
  heldBytes: number;
  badFrames: number;
  messages: number;
}

export const DEFAULT_BUDGET = 4 * 1024 * 1024;
export const DEFAULT_EXPIRY = 60_000;
export const DEFAULT_MAX_MEMORY = 256 * 1024 * 1024;
export const DEFAULT_MAX_PIPELINED = 16;

/** The endpoint of a named broker: `ipc://@/zpipes/<name>` (Linux abstract namespace). */
export function brokerEndpoint(name: string): string {
  return `ipc://@/zpipes/${name}`;
}

/**
 * A ZPIPES broker: one ROUTER socket, one {@link ClientSession} (with its
 * XState machine) per client identity, a {@link PipeRegistry} of pipes.
 *
 * Bad input never stops it: an undecodable frame gets INVALID back, a log
 * line, and nothing else changes.
 */
export class ZpipesBroker implements SessionHost {
  readonly name: string;
  readonly registry: PipeRegistry;
  readonly maxChunk: number;
  readonly maxMemory: number;
  readonly maxPipelined: number;
  readonly logger: Logger;
  readonly #options: BrokerOptions;
  readonly #expiry: number;
  readonly #fastPath: boolean;
  readonly #hooks: BrokerSocketHooks;
  readonly #sessions = new Map<string, ClientSession>();
  #router: zmq.Router | null = null;
  #direct: DirectRouter | null = null;
  #started = false;
  #bound: string[] = [];
  #loop: Promise<void> | null = null;
  #sweeper: NodeJS.Timeout | null = null;
  #held = 0;
  #badFrames = 0;
  #messages = 0;
  #stopping = false;
  #stopped = false;
  /** True from a message's arrival until a drain finds the input queue empty. */
  #behind = false;
  /** When a drain last found the input queue empty. */
  #caughtUpAt = Date.now();
  #sweepTicks: LateTicks | null = null;
  // Replies wait here while a send is in flight (zeromq.js allows one at a time).
  #out: Buffer[] = [];
  #outHead = 0;
  #sending = false;
  #flushed: (() => void)[] = [];
  #logBudget = 100;
  #logSuppressed = 0;
  #logWindow = 0;

  constructor(options: BrokerOptions = {}) {
    this.#options = options;
    this.name = options.name ?? "local";
    this.maxChunk = options.maxChunk ?? MAX_CHUNK;
    this.maxMemory = options.maxMemory ?? DEFAULT_MAX_MEMORY;
    this.maxPipelined = options.maxPipelined ?? DEFAULT_MAX_PIPELINED;
    this.logger = options.logger ?? silentLogger;
    this.#expiry = options.expiry ?? DEFAULT_EXPIRY;
    this.#fastPath = options.fastPath ?? true;
    this.#hooks = options.socketHooks ?? NATIVE_HOOKS;
    this.registry = new PipeRegistry({ budget: options.budget ?? DEFAULT_BUDGET, account: (d) => this.account(d), discarded: (c) => brokerSlabPool().release(c) });
  }

  /** Endpoints actually bound (tcp wildcards resolved). */
  get endpoints(): readonly string[] {
    return this.#bound;
  }

  async start(): Promise<void> {
    if (this.#started) throw new VtxError(ZPIPES_ERR.BIND_FAILED, "broker already started");
    this.#started = true;
    const endpoints = [...(this.#options.noDefaultEndpoint ? [] : [brokerEndpoint(this.name)]), ...(this.#options.endpoints ?? [])];
    const direct = this.#options.direct !== false ? endpoints.filter((ep) => DirectRouter.accepts(ep)) : [];
    // Abstract ipc:// names are served by both (node and libzmq cannot reach each other's form of them).
    const viaZmq = endpoints.filter((ep) => !direct.includes(ep) || DirectRouter.alsoNeedsLibzmq(ep));
    try {
      if (direct.length > 0) {
        const d = new DirectRouter({
          maxMessageSize: this.maxChunk + 64,
          handshakeTimeout: this.#options.handshakeTimeout ?? 10_000,
          // Room for every call a client may have pipelined to be answered
          // with a maximal chunk: a well-behaved client is never cut off.
          maxBacklog: this.#options.maxBacklog ?? Math.max(64 * 1024 * 1024, (this.maxPipelined + 2) * (this.maxChunk + 64)),
          message: (identity, frames) => {
            if (this.#stopping) return;
            try {
              this.#dispatch(identity, frames[0], frames.length);
            } catch (err) {
              this.logger.log("error", "dispatch-failed", { message: (err as Error).message, stack: (err as Error).stack });
            }
          },
          dropped: (peer, err) => this.warn("peer-dropped", { peer, code: err.code, message: err.message }),
          // Chunks pass through and are handed back once written (sendParts).
          recycleSlabs: true,
        });
        this.#direct = d;
        for (const ep of direct) this.#bound.push(await d.bind(ep));
      }
      if (viaZmq.length > 0) await this.#startZmq(viaZmq);
    } catch (err) {
      await this.#direct?.close();
      this.#direct = null;
      this.#bound = [];
      this.#started = false;
      throw err instanceof VtxError && err.code === ZPIPES_ERR.BIND_FAILED
        ? err
        : new VtxError(ZPIPES_ERR.BIND_FAILED, `cannot bind ${endpoints.join(", ")}: ${(err as Error).message}`, { cause: err });
    }
    const sweepEvery = Math.max(10, Math.min(1000, Math.floor(this.#expiry / 4)));
    this.#sweepTicks = new LateTicks(sweepEvery, Date.now());
    this.#sweeper = setInterval(() => this.#sweep(), sweepEvery);
    this.#sweeper.unref();
    this.logger.log("info", "broker-started", { name: this.name, endpoints: this.#bound, budget: this.#options.budget ?? DEFAULT_BUDGET, expiry: this.#expiry });
  }

  /** The libzmq ROUTER, for endpoints not served directly (and `socketHooks`). */
  async #startZmq(endpoints: string[]): Promise<void> {
    const router = new zmq.Router({
      // Replies to a client that went away are dropped, not queued forever.
      mandatory: false,
      linger: 1000,
      // libzmq refuses (and disconnects) anything larger than a maximal WRITE,
      // so no frame bigger than that ever reaches the decoder.
      maxMessageSize: this.maxChunk + 64,
      // Per-client queues inside libzmq: a client that floods the broker is
      // throttled by its own socket (256 frames waiting at most), and one that
      // never reads its replies loses them past 1000 (ROUTER drops, never
      // blocks). A well-behaved client has at most maxPipelined + 1 calls and
      // its PINGs outstanding. The fuzz test measured 730 MB RSS with 10 000.
      receiveHighWaterMark: 256,
      sendHighWaterMark: 1000,
    });
    this.#router = router;
    try {
      for (const ep of endpoints) {
        const bound = await this.#hooks.bind(router, ep);
        if (!this.#bound.includes(bound)) this.#bound.push(bound);
      }
    } catch (err) {
      await this.#hooks.close(router).catch(() => undefined);
      if (!router.closed) router.close();
      this.#router = null;
      throw new VtxError(ZPIPES_ERR.BIND_FAILED, `cannot bind ${endpoints.join(", ")}: ${(err as Error).message}`, { cause: err });
    }
    this.#loop = this.#receive(router);
  }

  /**
   * First half of a stop: take no more commands and answer every pending and
   * queued call with *_FAILED "broker shutting down", while every pipe end is
   * still attached. `zbroker` calls this before stopping its plugins, so a
   * cluster bridge leaving cannot make a local READ see a false READ_END.
   */
  quiesce(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const s of this.#sessions.values()) s.failPending("broker shutting down");
  }

  /**
   * Stop: every pending call is answered with *_FAILED, the replies are
   * flushed, the socket closed.
   */
  async stop(): Promise<void> {
    if (this.#stopped || !this.#started) return;
    this.#stopped = true;
    this.quiesce();
    if (this.#sweeper !== null) clearInterval(this.#sweeper);
    for (const s of this.#sessions.values()) {
      s.send({ type: "SHUTDOWN" });
      s.stop();
    }
    this.#sessions.clear();
    await this.#drain();
    await this.#direct?.close();
    this.#direct = null;
    const router = this.#router;
    if (router !== null) {
      await this.#hooks.close(router).catch((err: unknown) => this.logger.log("warn", "close-failed", { message: (err as Error).message }));
      if (!router.closed) router.close();
      await this.#loop?.catch(() => undefined);
      this.#router = null;
    }
    this.logger.log("info", "broker-stopped", { name: this.name, slabs: brokerSlabPool().stats() });
  }

  stats(): BrokerStats {
    return { clients: this.#sessions.size, pipes: this.registry.size, heldBytes: this.#held, badFrames: this.#badFrames, messages: this.#messages };
  }

  // ── SessionHost ─────────────────────────────────────────────────────────

  heldBytes(): number {
    return this.#held;
  }

  account(delta: number): void {
    this.#held += delta;
  }

  send(identity: Buffer, frame: Buffer): void {
    if (isDirectIdentity(identity)) {
      this.#direct?.send(identity, [frame]);
      return;
    }
    if (this.#router === null) return;
    this.#out.push(identity, frame);
    if (!this.#sending) void this.#flush();
  }

  sendParts(identity: Buffer, parts: Buffer[], finished?: Buffer[]): void {
    if (isDirectIdentity(identity)) {
      // Once written, the finished chunks' read slabs may be read into again
      // (a no-op for chunks that did not arrive in one).
      const onWritten = finished !== undefined && finished.length > 0 ? () => releaseAll(finished) : undefined;
      this.#direct?.send(identity, parts, onWritten);
    } else {
      // Through zeromq.js: it may keep the pieces after send, so they are never recycled.
      this.send(identity, parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    }
  }

  warn(event: string, fields: Record<string, unknown>): void {
    // Rate-limited: a fuzzing client must not turn the log into the bottleneck.
    const now = Date.now();
    if (now - this.#logWindow >= 1000) {
      if (this.#logSuppressed > 0) this.logger.log("warn", "log-suppressed", { count: this.#logSuppressed });
      this.#logWindow = now;
      this.#logBudget = 100;
      this.#logSuppressed = 0;
    }
    if (this.#logBudget > 0) {
      this.#logBudget--;
      this.logger.log("warn", event, fields);
    } else {
      this.#logSuppressed++;
    }
  }

  // ── I/O ────────────────────────────────────────────────────────────────

  async #receive(router: zmq.Router): Promise<void> {
    // In bursts (see @vtx/runtime/zmq-fast): block for a message, then take
    // what is already queued until EAGAIN. The EAGAIN tells when the broker
    // has caught up with its input, which client expiry needs (#sweep).
    const handler = {
      message: (msg: Buffer[]): undefined => {
        this.#behind = true;
        if (this.#stopping) return undefined;
        try {
          this.#dispatch(msg[0], msg[1], msg.length - 1);
        } catch (err) {
          // A bug must not stop the broker serving everyone else.
          this.logger.log("error", "dispatch-failed", { message: (err as Error).message, stack: (err as Error).stack });
        }
        return undefined;
      },
      idle: (): void => undefined,
      caughtUp: (): void => {
        this.#behind = false;
        this.#caughtUpAt = Date.now();
      },
      stopped: (): boolean => this.#stopping || router.closed,
    };
    for (;;) {
      try {
        await readBursts(router, handler);
        return;
      } catch (err) {
        if (this.#stopping || router.closed) return;
        this.logger.log("error", "receive-failed", { message: (err as Error).message });
      }
    }
  }

  /** One message from a client: its routing id, its first frame, how many frames it had. */
  #dispatch(identity: Buffer | undefined, frame: Buffer | undefined, frames: number): void {
    this.#messages++;
    if (identity === undefined) return;
    const key = identity.toString("latin1");
    let session = this.#sessions.get(key);
    if (session === undefined) {
      session = new ClientSession(identity, this);
      this.#sessions.set(key, session);
    }
    session.lastSeen = Date.now();
    if (frame === undefined) {
      this.#bad(session, new DecodeError(ZPIPES_ERR.TRUNCATED, "message without a frame", 0, "signature"));
      return;
    }
    // Hot path: READ while reading, WRITE while writing (see ClientSession.fastRead).
    if (this.#fastPath && frames === 1) {
      const id = peekId(frame);
      if (id === MSG.WRITE && session.state === "writing") {
        if (frame.length >= 11) {
          const len = frame.readUInt32BE(3);
          if (len <= this.maxChunk && frame.length >= 11 + len) {
            session.fastWrite(frame.subarray(7, 7 + len), frame.readUInt32BE(7 + len));
            return;
          }
        }
      } else if (id === MSG.READ && session.state === "reading" && frame.length >= 11) {
        session.fastRead(frame.readUInt32BE(3), frame.readUInt32BE(7));
        return;
      }
    }
    let m;
    try {
      m = decode(frame, { maxChunk: this.maxChunk });
    } catch (err) {
      this.#bad(session, err);
      return;
    }
    if (frames > 1) {
      // One ZPIPES message is one frame; a multi-frame message is not ZPIPES.
      this.#bad(session, new DecodeError(ZPIPES_ERR.TRUNCATED, `message of ${frames} frames`, 0, "frames"));
      return;
    }
    switch (m.type) {
      case "INPUT":
      case "OUTPUT":
      case "READ":
      case "CLOSE":
      case "PING":
        session.send(m);
        break;
      case "WRITE":
        session.send({ type: "WRITE", chunk: m.chunk as Buffer, timeout: m.timeout });
        break;
      default:
        session.send({ type: "OTHER", name: m.type });
    }
  }

  #bad(session: ClientSession, err: unknown): void {
    this.#badFrames++;
    const e = err as DecodeError;
    this.warn("bad-input", { client: session.label, code: e.code, offset: e.offset, message: e.message });
    this.send(session.identity, FRAME.INVALID);
  }

  async #flush(): Promise<void> {
    const router = this.#router;
    if (router === null) return;
    this.#sending = true;
    try {
      while (this.#outHead < this.#out.length) {
        const id = this.#out[this.#outHead] as Buffer;
        const frame = this.#out[this.#outHead + 1] as Buffer;
        this.#out[this.#outHead] = this.#out[this.#outHead + 1] = undefined as unknown as Buffer;
        this.#outHead += 2;
        try {
          await router.send([id, frame]);
        } catch (err) {
          if (router.closed) return;
          this.logger.log("warn", "send-failed", { message: (err as Error).message });
        }
      }
      this.#out.length = 0;
      this.#outHead = 0;
    } finally {
      this.#sending = false;
      const waiters = this.#flushed;
      this.#flushed = [];
      for (const w of waiters) w();
    }
  }

  async #drain(): Promise<void> {
    if (!this.#sending && this.#outHead >= this.#out.length) return;
    await new Promise<void>((resolve) => {
      this.#flushed.push(resolve);
      if (!this.#sending) void this.#flush();
    });
  }

  #sweep(): void {
    // Silence is measured up to the last moment the broker had handled all
    // its input: a broker that is behind (a flood, a starved CPU) has not yet
    // read what its clients sent, and must not take them for gone. While it
    // waits for input it is caught up, so that moment is now.
    const now = Date.now();
    // A late sweep decides nothing (LateTicks): what clients sent while this
    // thread was blocked is still unread. (Asking libzmq whether input is
    // pending would consume ZMQ_FD's edge and stall the pending receive.)
    if (this.#sweepTicks?.late(now) !== false) return;
    if (!this.#behind) this.#caughtUpAt = now;
    const deadline = this.#caughtUpAt - this.#expiry;
    for (const [key, s] of this.#sessions) {
      if (s.lastSeen < deadline) {
        this.logger.log("info", "client-expired", { client: s.label, state: s.state, pipe: s.pipe?.name });
        this.#sessions.delete(key);
        s.send({ type: "EXPIRE" });
        s.stop();
      }
    }
  }
}
