import { encode, FRAME } from "../codec/index.js";
import { createClientActor, type ClientActor, type ClientEvent, type ClientHooks, type ClientState } from "./client-machine.js";
import type { Pipe, PipeEnd } from "./pipe.js";
import type { PipeRegistry } from "./pipe-registry.js";

/** What a session needs from its broker. */
export interface SessionHost {
  readonly registry: PipeRegistry;
  readonly maxChunk: number;
  readonly maxPipelined: number;
  /** Bytes held broker-wide (pipes + chunks waiting in calls) and the cap. */
  heldBytes(): number;
  readonly maxMemory: number;
  account(delta: number): void;
  send(identity: Buffer, frame: Buffer): void;
  /**
   * Sends one frame given as pieces (big ones by reference): gathered
   * without a copy where the client's transport allows, joined otherwise.
   */
  /**
   * Like send, for a frame in pieces. `finished`: queued chunks this frame
   * completes (see Pipe.takeReadOkParts); the host may recycle their memory
   * once the frame is written.
   */
  sendParts(identity: Buffer, parts: Buffer[], finished?: Buffer[]): void;
  warn(event: string, fields: Record<string, unknown>): void;
}

type Call =
  | { kind: "read"; size: number; timeout: number; fail?: string }
  | { kind: "write"; chunk: Buffer | null; timeout: number; fail?: string };

/**
 * Calls kept behind a pending call beyond `maxPipelined` are answered with
 * *_FAILED in order; past this many the client is flooding and gets INVALID
 * at once (out of order, but it broke the protocol's pacing long before).
 */
const HARD_QUEUE_LIMIT = 4096;

/** Largest delay a Node timer takes. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * One connected client (one ROUTER identity): its protocol machine, the pipe
 * end it holds, its pending call and the calls it pipelined behind it.
 *
 * Commands from one client are answered in the order they arrive, except
 * PING (answered at once, even during a pending call, without touching the
 * call's timeout) and CLOSE (fails the pending and queued calls, then
 * CLOSE_OK).
 */
export class ClientSession implements PipeEnd, ClientHooks {
  readonly identity: Buffer;
  readonly label: string;
  lastSeen = Date.now();
  #state: ClientState = "idle";
  readonly #actor: ClientActor;
  readonly #host: SessionHost;
  #pipe: Pipe | null = null;
  #role: "reader" | "writer" | null = null;
  #pending: Call | null = null;
  #timer: NodeJS.Timeout | null = null;
  #queue: Call[] = [];
  /** Set while a writer's CLOSE waits for a remote reader's broker: replies queued behind it. */
  #held: Buffer[] | null = null;
  #progressing = false;
  #again = false;

  constructor(identity: Buffer, host: SessionHost) {
    this.identity = identity;
    this.label = `client ${identity.toString("hex")}`;
    this.#host = host;
    this.#actor = createClientActor(this);
    this.#actor.subscribe((snap) => {
      this.#state = snap.value;
    });
    this.#actor.start();
  }

  /** The protocol state, as the machine last reported it. */
  get state(): ClientState {
    return this.#state;
  }
  get pipe(): Pipe | null {
    return this.#pipe;
  }
  get hasPendingCall(): boolean {
    return this.#pending !== null;
  }

  /** Hand a command to the machine. */
  send(event: ClientEvent): void {
    this.#actor.send(event);
  }

  /**
   * The hot path: READ while reading, WRITE while writing. The caller checked
   * {@link state}; this is the machine's own self-transition action, run
   * without building a snapshot per chunk.
   */
  fastRead(size: number, timeout: number): void {
    this.read(size, timeout);
  }
  fastWrite(chunk: Buffer, timeout: number): void {
    this.write(chunk, timeout);
  }

  // ── ClientHooks (called by the machine) ───────────────────────────────────

  openReader(pipename: string): boolean {
    const r = this.#host.registry.openReader(pipename, this);
    if (!r.ok) {
      this.#reply(encode({ type: "INPUT_FAILED", reason: r.reason }));
      return false;
    }
    this.#pipe = r.pipe;
    this.#role = "reader";
    this.#reply(FRAME.INPUT_OK);
    return true;
  }

  openWriter(pipename: string): boolean {
    const r = this.#host.registry.openWriter(pipename, this);
    if (!r.ok) {
      this.#reply(encode({ type: "OUTPUT_FAILED", reason: r.reason }));
      return false;
    }
    this.#pipe = r.pipe;
    this.#role = "writer";
    this.#reply(FRAME.OUTPUT_OK);
    return true;
  }

  read(size: number, timeout: number): void {
    this.#call({ kind: "read", size, timeout });
  }

  write(chunk: Buffer, timeout: number): void {
    const call: Call = { kind: "write", chunk, timeout };
    if (this.#host.heldBytes() + chunk.length > this.#host.maxMemory) {
      call.chunk = null;
      call.fail = "broker memory full";
      this.#host.warn("memory-full", { client: this.label, held: this.#host.heldBytes() });
    } else {
      this.#host.account(chunk.length);
    }
    this.#call(call);
  }

  close(): void {
    this.#failAll("pipe closed");
    // A writer whose reader is on another broker hears CLOSE_OK once its
    // chunks are there, CLOSE_FAILED if the link is lost first: the CLOSE
    // is the writer's last chance to learn that acknowledged data died.
    const remote = this.#role === "writer" ? this.#pipe?.reader?.whenDelivered?.bind(this.#pipe.reader) : undefined;
    this.#leave();
    if (remote === undefined) {
      this.#reply(FRAME.CLOSE_OK);
      return;
    }
    // Replies to whatever the client sends meanwhile wait behind this one.
    const held: Buffer[] = [];
    this.#held = held;
    remote((failure) => {
      if (this.#held !== held) return; // answered already (shutdown) or the client expired
      this.#releaseHeld(failure === null ? FRAME.CLOSE_OK : encode({ type: "CLOSE_FAILED", reason: `not delivered: ${failure}` }));
    });
  }

  pong(): void {
    // At once, even while a CLOSE waits (the client matches PING_OKs apart).
    this.#host.send(this.identity, FRAME.PING_OK);
  }

  invalid(command: string): void {
    this.#host.warn("invalid-command", { client: this.label, command, state: this.#state });
    this.#reply(FRAME.INVALID);
  }

  expire(): void {
    this.#held = null;
    this.#dropAll();
    this.#leave();
  }

  shutdown(): void {
    if (this.#held !== null) this.#releaseHeld(encode({ type: "CLOSE_FAILED", reason: "broker shutting down before delivery" }));
    this.failPending("broker shutting down");
    this.#leave();
  }

  // ── PipeEnd ──────────────────────────────────────────────────────────────

  pipeChanged(): void {
    if (this.#pending !== null) this.#progress();
  }

  // ── calls ────────────────────────────────────────────────────────────────

  #call(call: Call): void {
    if (this.#pending === null && this.#queue.length === 0) {
      this.#pending = call;
      this.#progress();
      return;
    }
    if (this.#queue.length >= HARD_QUEUE_LIMIT) {
      this.#release(call);
      this.#host.warn("flooding", { client: this.label, queued: this.#queue.length });
      this.#reply(FRAME.INVALID);
      return;
    }
    if (this.#queue.length >= this.#host.maxPipelined && call.fail === undefined) {
      this.#release(call);
      call.fail = "too many pipelined calls";
    }
    this.#queue.push(call);
  }

  /** Complete the pending call and as many queued ones as can complete now. */
  #progress(): void {
    if (this.#progressing) {
      this.#again = true;
      return;
    }
    this.#progressing = true;
    try {
      do {
        this.#again = false;
        for (;;) {
          if (this.#pending === null) {
            const next = this.#queue.shift();
            if (next === undefined) break;
            this.#pending = next;
          }
          const call = this.#pending;
          if (!this.#tryComplete(call)) {
            this.#arm(call);
            break;
          }
          this.#pending = null;
          this.#disarm();
        }
      } while (this.#again);
    } finally {
      this.#progressing = false;
    }
  }

  /** Try to answer `call` now; false if it has to wait. */
  #tryComplete(call: Call): boolean {
    const pipe = this.#pipe;
    if (call.kind === "read") {
      if (call.fail !== undefined) {
        this.#reply(encode({ type: "READ_FAILED", reason: call.fail }));
        return true;
      }
      if (pipe === null) {
        this.#reply(encode({ type: "READ_FAILED", reason: "no pipe" }));
        return true;
      }
      // READ size 0 is READ_END (reference table); sizes above maxChunk are
      // served as maxChunk so that no READ can make a pipe hold unbounded data.
      if (call.size === 0) {
        this.#reply(FRAME.READ_END);
        return true;
      }
      const size = call.size < this.#host.maxChunk ? call.size : this.#host.maxChunk;
      const queued = pipe.queued;
      if (queued >= size) {
        pipe.setWanted(0);
        this.#replyReadOk(pipe, size);
        return true;
      }
      if (pipe.writerState === "gone") {
        pipe.setWanted(0);
        const failure = pipe.writerFailure;
        if (queued > 0) this.#replyReadOk(pipe, queued);
        else this.#reply(failure === null ? FRAME.READ_END : encode({ type: "READ_FAILED", reason: failure }));
        return true;
      }
      pipe.setWanted(size);
      return false;
    }
    // write
    const chunk = call.chunk;
    if (call.fail !== undefined || chunk === null) {
      this.#reply(encode({ type: "WRITE_FAILED", reason: call.fail ?? "dropped" }));
      return true;
    }
    if (pipe === null || pipe.readerState === "gone") {
      this.#release(call);
      this.#reply(encode({ type: "WRITE_FAILED", reason: "reader closed" }));
      return true;
    }
    if (!pipe.canAccept(chunk.length)) return false;
    call.chunk = null;
    this.#host.account(-chunk.length);
    // The chunk is a view into the received WRITE frame, 7 octets after its
    // start: the pipe may turn that header into a READ_OK header.
    pipe.push(chunk, true);
    this.#reply(FRAME.WRITE_OK);
    return true;
  }

  #arm(call: Call): void {
    if (this.#timer !== null || call.timeout === 0) return;
    // A read times out only while nothing is queued (reference table: the
    // timeout is ignored once any data is queued).
    if (call.kind === "read" && this.#pipe !== null && this.#pipe.queued > 0) return;
    // Node timers hold at most 2^31-1 ms (24.8 days); a number-4 timeout can be
    // twice that. Longer ones are clamped: no client waits that long anyway.
    this.#timer = setTimeout(() => this.#timedOut(call), call.timeout > MAX_TIMER_MS ? MAX_TIMER_MS : call.timeout);
  }

  #disarm(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  #timedOut(call: Call): void {
    this.#timer = null;
    if (this.#pending !== call) return;
    if (call.kind === "read") {
      if (this.#pipe !== null && this.#pipe.queued > 0) return; // keep waiting, see #arm
      this.#pipe?.setWanted(0);
      this.#pending = null;
      this.#reply(FRAME.READ_TIMEOUT);
    } else {
      // Reference: WRITE_TIMEOUT and the chunk is dropped.
      this.#release(call);
      this.#pending = null;
      this.#reply(FRAME.WRITE_TIMEOUT);
    }
    this.#progress();
  }

  /**
   * Answer the pending and queued calls with *_FAILED (the broker fails every
   * client's calls before any pipe end leaves, so no READ sees a READ_END
   * caused by the shutdown itself).
   */
  failPending(reason: string): void {
    this.#failAll(reason);
  }

  /** Answer the pending and queued calls with *_FAILED, in order. */
  #failAll(reason: string): void {
    this.#disarm();
    const calls = this.#pending === null ? this.#queue : [this.#pending, ...this.#queue];
    this.#pending = null;
    this.#queue = [];
    for (const call of calls) {
      this.#release(call);
      const why = call.fail ?? reason;
      this.#reply(encode(call.kind === "read" ? { type: "READ_FAILED", reason: why } : { type: "WRITE_FAILED", reason: why }));
    }
  }

  #dropAll(): void {
    this.#disarm();
    if (this.#pending !== null) this.#release(this.#pending);
    for (const call of this.#queue) this.#release(call);
    this.#pending = null;
    this.#queue = [];
  }

  #release(call: Call): void {
    if (call.kind === "write" && call.chunk !== null) {
      this.#host.account(-call.chunk.length);
      call.chunk = null;
    }
  }

  #leave(): void {
    const pipe = this.#pipe;
    const role = this.#role;
    this.#pipe = null;
    this.#role = null;
    if (pipe === null) return;
    if (role === "reader") pipe.detachReader();
    else pipe.detachWriter();
  }

  /** Answers the waiting CLOSE with `answer`, then sends what queued behind it. */
  #releaseHeld(answer: Buffer): void {
    const held = this.#held ?? [];
    this.#held = null;
    this.#reply(answer);
    for (const f of held) this.#reply(f);
  }

  /** READ_OK with `n` queued bytes, as pieces of the queued chunks (see Pipe.takeReadOkParts). */
  #replyReadOk(pipe: Pipe, n: number): void {
    const finished: Buffer[] = [];
    const parts = pipe.takeReadOkParts(n, finished);
    // Held (rare): not handed back, so never recycled while the reply waits.
    if (this.#held !== null) this.#held.push(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    else this.#host.sendParts(this.identity, parts, finished);
  }

  #reply(frame: Buffer): void {
    if (this.#held !== null) this.#held.push(frame);
    else this.#host.send(this.identity, frame);
  }

  /** Stop the machine (after expiry or shutdown). */
  stop(): void {
    this.#disarm();
    this.#actor.stop();
  }
}
