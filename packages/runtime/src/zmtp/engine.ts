/**
 * ZMTP 3.1 engine (ZeroMQ RFC 37), sans-IO: bytes in through {@link ZmtpEngine.push},
 * bytes out through the sink's `send`, events to the sink. A driver wraps a
 * byte stream (TCP, TLS, WebSocket payloads...) around it; the engine never
 * touches a socket, a timer or a clock.
 *
 * Lifecycle: `start()` sends our greeting; the peer's greeting is checked
 * (signature, version >= 3.0, same mechanism); the mechanism runs the
 * handshake (NULL: READY both ways; PLAIN: HELLO/WELCOME/INITIATE/READY);
 * the peer's Socket-Type is checked against RFC 37's table; then `ready`
 * fires and messages flow. PING is answered with PONG by the engine itself
 * (the driver owns the heartbeat timers and calls `sendPing`).
 *
 * Subscriptions (RFC 37 §SUBSCRIBE, §CANCEL): to a 3.1 peer we send
 * SUBSCRIBE/CANCEL commands, to a 3.0 peer messages whose first byte is 1/0.
 * We accept both forms from any peer: libzmq 4.3.5 sends commands to 3.1
 * peers and messages to 3.0 peers, and accepts either form itself (checked
 * against libzmq 4.3.5 on the wire). When the local socket is PUB or XPUB,
 * a single-frame message starting with 1/0 is reported as subscribe/cancel.
 *
 * Error codes (all fatal: the engine is closed, the transport must be closed):
 *
 * | code                            | when                                                                 |
 * |---------------------------------|----------------------------------------------------------------------|
 * | `ZMTP_BAD_SIGNATURE`            | greeting does not start with 0xFF or byte 9 is not 0x7F (ZMTP 1.0 or not ZMTP) |
 * | `ZMTP_UNSUPPORTED_VERSION`      | peer's major version < 3 (ZMTP 2.0 sends 1)                          |
 * | `ZMTP_MECHANISM_MISMATCH`       | peer proposes another mechanism (or an invalid name) in its greeting |
 * | `ZMTP_MALFORMED_FRAME`          | reserved flag bits set, or a command frame with MORE                 |
 * | `ZMTP_MALFORMED_COMMAND`        | bad command name size/characters, bad ERROR/PING/PONG/HELLO layout   |
 * | `ZMTP_MALFORMED_METADATA`       | property sizes overflow the command, empty name, no Socket-Type      |
 * | `ZMTP_MESSAGE_TOO_LARGE`        | a frame header announces more than `maxMessageSize` for the message (checked before allocating), or a handshake command over 64 KiB |
 * | `ZMTP_INCOMPATIBLE_SOCKET_TYPE` | peer's Socket-Type unknown or not compatible (we send ERROR first)   |
 * | `ZMTP_AUTH_FAILED`              | PLAIN server refused our credentials / our authenticator refused the peer (ERROR "400" sent) |
 * | `ZMTP_UNEXPECTED_COMMAND`       | a command the handshake state does not allow (e.g. SUBSCRIBE before READY) |
 * | `ZMTP_UNEXPECTED_MESSAGE`       | a message frame before the handshake completed                      |
 * | `ZMTP_PEER_ERROR`               | the peer sent ERROR (`detail.reason`)                                |
 * | `ZMTP_TRUNCATED`                | `end()` (transport EOF) before the handshake completed or inside a frame/message (unless the mechanism explains it, see `Mechanism.explainEnd`) |
 * | `ZMTP_CURVE_*`                  | CURVE failures: see curve-mechanism.ts and docs/protocols/curve.md   |
 *
 * Thrown synchronously (programming errors, the engine stays usable):
 * `ZMTP_NOT_READY` (send* before `ready` or after close/failure) and
 * `ZMTP_INVALID_OPTION` (constructor options).
 *
 * Performance: once READY with NULL/PLAIN, `push` goes straight into the
 * frame decoder, which hands out frames as subarrays of the pushed chunk;
 * `sendMessage` makes one buffer per message (or a gather list via
 * `sendv` for bodies >= 32 KiB). No closures or promises on the data path.
 */
import { DecodeError, VtxError } from "../errors.js";
import {
  CMD_CANCEL,
  CMD_ERROR,
  CMD_PING,
  CMD_PONG,
  CMD_READY,
  CMD_SUBSCRIBE,
  MAX_PING_TTL_DECISECONDS,
  commandDataOffset,
  decodeError,
  decodePing,
  decodePong,
  encodeCancel,
  encodeError,
  encodePing,
  encodePong,
  encodeSubscribe,
  parseCommand,
  type ZmtpCommand,
} from "./commands.js";
import { COMMAND_ENVELOPE_ALLOWANCE, DEFAULT_MAX_MESSAGE_SIZE, FLAG_COMMAND, FLAG_MORE, MAX_HANDSHAKE_COMMAND_SIZE } from "./frame.js";
import { FrameDecoder } from "./frame-decoder.js";
import {
  DEFAULT_COPY_THRESHOLD,
  encodeCommandFrame,
  encodeMessage,
  encodeFrameChunks,
  encodeMessageChunks,
  encodeMessageInto,
  writeFrameHeader,
  frameHeaderSize,
} from "./frame-encoder.js";
import { GREETING_SIZE, GreetingDecoder, encodeGreeting, type Greeting } from "./greeting.js";
import type { Mechanism, MechanismDone, MechanismFraming, MechanismStep } from "./mechanism.js";
import { createMechanism, type MechanismOption } from "./mechanism-option.js";
import {
  MAX_IDENTITY_LENGTH,
  PROPERTY_IDENTITY,
  PROPERTY_SOCKET_TYPE,
  encodeMetadata,
  getProperty,
} from "./metadata.js";
import { isCompatible, isZmtpSocketType, receivesSubscriptions, sendsIdentity, type ZmtpSocketType } from "./socket-type.js";

export interface ZmtpEngineOptions {
  /** Our socket type, announced as Socket-Type and checked against the peer's. */
  readonly socketType: ZmtpSocketType;
  /** Our routing id (0..255 bytes), announced as Identity (sent by REQ/DEALER/ROUTER, or whenever given). */
  readonly identity?: Uint8Array;
  /**
   * Mechanism role (the greeting's as-server). Optional: PLAIN's option
   * object already says which side it is; when given it must agree.
   * Ignored by NULL.
   */
  readonly asServer?: boolean;
  /** "NULL" (default), PLAIN client/server options, or a Mechanism instance (e.g. CURVE). */
  readonly mechanism?: MechanismOption;
  /** Extra properties for READY/INITIATE, e.g. `{ "X-Service": "echo" }`. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Bound on one incoming multipart message, default 256 MiB. */
  readonly maxMessageSize?: number;
  /** The transport's idea of the peer, passed to authenticators and kept on the engine. */
  readonly peerAddress?: string;
  /** Bodies at least this large go to `sendv` by reference, when the sink has `sendv`. Default 32 KiB. */
  readonly copyThreshold?: number;
  /**
   * Opt-in output batching: messages up to half this size are encoded
   * back to back into one buffer of this size, handed to `send` when full,
   * before any other output, or when the driver calls `flush()` (which it
   * then MUST do, e.g. once per event-loop turn). 0 (default): one `send` per
   * message. 64 KiB is a good value for stream transports.
   */
  readonly batchSize?: number;
  /** Passed to the frame decoder: incoming frames of 129 bytes up to this size are copied rather than views of the pushed chunk (default 0: never). */
  readonly copyBelow?: number;
}

/** What the engine learned about the peer, reported by `ready`. */
export interface ZmtpPeer {
  readonly socketType: ZmtpSocketType;
  /** The peer's Identity property (empty when it sent none). */
  readonly identity: Buffer;
  /** All properties, values decoded as UTF-8, names as the peer sent them. */
  readonly metadata: Readonly<Record<string, string>>;
  /** All properties, raw. */
  readonly properties: ReadonlyMap<string, Buffer>;
  readonly major: number;
  /** 0 for a ZMTP 3.0 peer, 1 for 3.1. */
  readonly minor: number;
  readonly mechanism: string;
  /** Authenticated user (PLAIN username on the server side). */
  readonly userId: string | undefined;
}

export interface ZmtpEngineSink {
  /** Write these bytes to the transport, in order. */
  send(bytes: Buffer): void;
  /**
   * Optional gather write for messages with big bodies (`socket.cork();
   * write...; uncork()`). `written`, when given, is to be called once the
   * transport no longer needs `chunks` (a sink that does not report it never
   * calls it; see {@link ZmtpEngine.sendFrameParts}).
   */
  sendv?(chunks: Buffer[], written?: () => void): void;
  /** The handshake completed; messages may be sent from now on. */
  ready(peer: ZmtpPeer): void;
  /** One message; frames may alias the chunk they arrived in (do not reuse pushed chunks). */
  message(frames: Buffer[]): void;
  /** The peer subscribed (SUBSCRIBE command, or a \x01 message to a PUB/XPUB). */
  subscribe?(topic: Buffer): void;
  /** The peer cancelled a subscription. */
  cancel?(topic: Buffer): void;
  /** The peer pinged us (already answered with PONG); `ttlMs` is its TTL, 0 if none. */
  ping?(ttlMs: number, context: Buffer): void;
  /** The peer answered our PING. */
  pong?(context: Buffer): void;
  /** Fatal error: the engine is closed; close the transport. */
  error(err: VtxError): void;
}

export type ZmtpEngineState = "new" | "greeting" | "handshake" | "ready" | "closed";

const S_NEW = 0;
const S_GREETING = 1;
const S_HANDSHAKE = 2;
const S_READY = 3;
const S_CLOSED = 4;
const STATE_NAMES: readonly ZmtpEngineState[] = ["new", "greeting", "handshake", "ready", "closed"];

const EMPTY = Buffer.alloc(0);

function invalid(message: string, cause?: unknown): VtxError {
  return new VtxError("ZMTP_INVALID_OPTION", message, { cause });
}

function asVtxError(err: unknown): VtxError {
  if (err instanceof VtxError) return err;
  return new VtxError("VTX_INTERNAL", err instanceof Error ? err.message : String(err), { cause: err });
}

function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown }).then === "function";
}

export class ZmtpEngine {
  readonly socketType: ZmtpSocketType;
  readonly peerAddress: string | undefined;
  readonly maxMessageSize: number;

  readonly #sink: ZmtpEngineSink;
  readonly #mechanism: Mechanism;
  readonly #localMetadata: Buffer;
  readonly #greetingDecoder = new GreetingDecoder();
  readonly #decoder: FrameDecoder;
  readonly #acceptsSubscriptions: boolean;
  readonly #copyThreshold: number;
  readonly #hasSendv: boolean;
  readonly #batchSize: number;
  #batch: Buffer | undefined;
  #batchLength = 0;

  #state = S_NEW;
  #peerGreeting: Greeting | undefined;
  #peer: ZmtpPeer | undefined;
  #subscriptionsAsCommands = true;
  #framing: MechanismFraming | undefined;
  /** Frame flag of wrapped frames: COMMAND, or 0 for a "message" carrier (CURVE as libzmq sends it). */
  #wrappedFlag = FLAG_COMMAND;
  // Message assembly when a mechanism wraps frames (CURVE).
  #wrappedFrames: Buffer[] = [];
  #wrappedBytes = 0;
  // Re-entrancy guard for push outside the READY fast path.
  #busy = false;
  readonly #queue: Uint8Array[] = [];

  constructor(options: ZmtpEngineOptions, sink: ZmtpEngineSink) {
    if (!isZmtpSocketType(options.socketType)) throw invalid(`unknown socket type ${String(options.socketType)}`);
    this.socketType = options.socketType;
    this.peerAddress = options.peerAddress;
    this.#sink = sink;
    this.#hasSendv = typeof sink.sendv === "function";
    this.#acceptsSubscriptions = receivesSubscriptions(options.socketType);

    const max = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    if (!Number.isSafeInteger(max) || max < 0) throw invalid("maxMessageSize must be a non-negative safe integer");
    this.maxMessageSize = max;
    this.#copyThreshold = options.copyThreshold ?? DEFAULT_COPY_THRESHOLD;
    const batchSize = options.batchSize ?? 0;
    if (!Number.isSafeInteger(batchSize) || batchSize < 0) throw invalid("batchSize must be a non-negative integer");
    this.#batchSize = batchSize;

    try {
      this.#mechanism = createMechanism(options.mechanism ?? "NULL");
    } catch (err) {
      throw invalid(`invalid mechanism option: ${(err as Error).message}`, err);
    }
    if (options.asServer !== undefined && this.#mechanism.name !== "NULL" && options.asServer !== this.#mechanism.asServer) {
      throw invalid(`asServer ${options.asServer} contradicts the ${this.#mechanism.name} ${this.#mechanism.asServer ? "server" : "client"} option`);
    }

    const props: Array<[string, string | Uint8Array]> = [[PROPERTY_SOCKET_TYPE, options.socketType]];
    const identity = options.identity;
    if (identity !== undefined && identity.length > MAX_IDENTITY_LENGTH) throw invalid(`identity must be at most ${MAX_IDENTITY_LENGTH} bytes`);
    if (identity !== undefined || sendsIdentity(options.socketType)) props.push([PROPERTY_IDENTITY, identity ?? EMPTY]);
    for (const [name, value] of Object.entries(options.metadata ?? {})) {
      const lower = name.toLowerCase();
      if (lower === "socket-type" || lower === "identity") throw invalid(`metadata may not set ${name}: the engine owns it`);
      props.push([name, value]);
    }
    try {
      this.#localMetadata = encodeMetadata(props);
    } catch (err) {
      throw invalid(`invalid metadata: ${(err as Error).message}`, err);
    }

    // Until the handshake is done, a peer may make us buffer at most 64 KiB.
    // One sink object per engine (not per message).
    this.#decoder = new FrameDecoder(
      {
        message: (frames) => this.#onMessage(frames),
        command: (body, offset) => this.#onCommand(body, offset),
        error: (err) => this.#fail(err),
      },
      {
        maxMessageSize: MAX_HANDSHAKE_COMMAND_SIZE,
        maxCommandSize: MAX_HANDSHAKE_COMMAND_SIZE,
        offset: GREETING_SIZE,
        copyBelow: options.copyBelow ?? 0,
      },
    );
  }

  get state(): ZmtpEngineState {
    return STATE_NAMES[this.#state]!;
  }

  /** The peer, once `ready` fired. */
  get peer(): ZmtpPeer | undefined {
    return this.#peer;
  }

  /** The peer's greeting, once received. */
  get peerGreeting(): Greeting | undefined {
    return this.#peerGreeting;
  }

  /** Sends our greeting. Call once, when the transport is connected. */
  start(): void {
    if (this.#state !== S_NEW) return;
    this.#state = S_GREETING;
    this.#write(encodeGreeting({ mechanism: this.#mechanism.name, asServer: this.#mechanism.asServer }));
  }

  /**
   * Feeds bytes from the transport. Do not reuse `chunk` afterwards: frames
   * handed to `message` may be views into it.
   */
  push(chunk: Uint8Array): void {
    if (this.#state === S_READY && !this.#busy) {
      this.#decoder.push(chunk);
      return;
    }
    if (this.#state === S_CLOSED) return;
    // Keep stream order when a sink callback pushes re-entrantly (a
    // synchronous in-memory transport): queue, and drain in order below.
    if (this.#busy) {
      this.#queue.push(chunk);
      return;
    }
    this.#busy = true;
    try {
      let next: Uint8Array | undefined = chunk;
      while (next !== undefined && this.#state !== S_CLOSED) {
        this.#feed(next);
        next = this.#queue.shift();
      }
    } finally {
      this.#busy = false;
      this.#queue.length = 0;
    }
  }

  /** {@link FrameDecoder.carrySpan}, for the slab reader starting a new slab; 0 outside the framing phases. */
  carryPartialFrame(into: Buffer): number {
    if (this.#busy || (this.#state !== S_READY && this.#state !== S_HANDSHAKE)) return 0;
    return this.#decoder.carrySpan(into);
  }

  /**
   * True while the engine keeps a view of memory in `buffer` from what was
   * pushed (see {@link FrameDecoder.refersTo}); before the framing phases,
   * or while busy, it says true.
   */
  refersTo(buffer: ArrayBufferLike): boolean {
    if (this.#busy) return true;
    if (this.#state !== S_READY && this.#state !== S_HANDSHAKE && this.#state !== S_CLOSED) return true;
    return this.#decoder.refersTo(buffer);
  }

  #feed(chunk: Uint8Array): void {
    if (this.#state === S_HANDSHAKE || this.#state === S_READY) {
      this.#decoder.push(chunk);
      return;
    }
    if (this.#state === S_NEW) this.start();
    let used: number;
    try {
      used = this.#greetingDecoder.push(chunk);
    } catch (err) {
      this.#fail(asVtxError(err));
      return;
    }
    const greeting = this.#greetingDecoder.greeting;
    if (greeting === undefined) return;
    this.#onGreeting(greeting);
    if (this.#state === S_HANDSHAKE && used < chunk.length) this.#decoder.push(chunk.subarray(used));
  }

  /** Sends one message (at least one frame). Throws ZMTP_NOT_READY before `ready`. */
  sendMessage(frames: readonly Uint8Array[]): void {
    if (this.#state !== S_READY) throw this.#notReady();
    const count = frames.length;
    if (count === 0) throw new TypeError("a message has at least one frame");
    if (this.#framing !== undefined) {
      this.#sendWrapped(frames);
      return;
    }
    let total = 0;
    let big = false;
    for (let i = 0; i < count; i++) {
      const n = frames[i]!.length;
      total += n + (n > 255 ? 9 : 2);
      if (n >= this.#copyThreshold) big = true;
    }
    if (big && this.#hasSendv) {
      if (this.#batchLength > 0) this.flush();
      this.#sink.sendv!(encodeMessageChunks(frames, this.#copyThreshold));
      return;
    }
    const cap = this.#batchSize;
    if (cap === 0 || total > cap >>> 1) {
      // Unbatched, or too big to be worth a copy into the batch.
      if (this.#batchLength > 0) this.flush();
      const out = Buffer.allocUnsafe(total);
      encodeMessageInto(frames, out, 0);
      this.#sink.send(out);
      return;
    }
    let batch = this.#batch;
    if (batch === undefined || this.#batchLength + total > batch.length) {
      if (this.#batchLength > 0) this.flush();
      batch = this.#batch;
      if (batch === undefined || total > batch.length) batch = this.#batch = Buffer.allocUnsafe(cap);
    }
    this.#batchLength = encodeMessageInto(frames, batch, this.#batchLength);
  }

  /**
   * Sends a one-frame message whose body is the concatenation of `parts`
   * (a protocol header, a payload, a trailer), without building that body:
   * with a `sendv` sink and a total of at least `copyThreshold`, big parts
   * go out by reference. Same bytes on the wire as `sendMessage([concat])`.
   * `written`, when given, is called once `parts` may change: at once when
   * they were copied, else when the sink reports the gather write done.
   */
  sendFrameParts(parts: readonly Uint8Array[], written?: () => void): void {
    if (this.#state !== S_READY) throw this.#notReady();
    let total = 0;
    for (let i = 0; i < parts.length; i++) total += parts[i]!.length;
    if (this.#framing === undefined && this.#hasSendv && total >= this.#copyThreshold) {
      if (this.#batchLength > 0) this.flush();
      this.#sink.sendv!(encodeFrameChunks(parts, this.#copyThreshold), written);
      return;
    }
    this.sendMessage([parts.length === 1 ? parts[0]! : Buffer.concat(parts, total)]);
    // Below the threshold (or encrypted) sendMessage encodes into a buffer of its own.
    written?.();
  }

  /**
   * With `batchSize`, hands the batched messages to `send` as one buffer.
   * Call it whenever the driver has no more messages at hand (e.g. once per
   * event-loop turn); the engine also flushes when the batch is full and
   * before anything else it sends. Without `batchSize` it does nothing.
   */
  flush(): void {
    const n = this.#batchLength;
    if (n === 0) return;
    const batch = this.#batch!;
    const out = batch.subarray(0, n);
    // The handed-out bytes belong to the transport now; keep only the unused tail for the next batch.
    this.#batch = batch.length - n >= 4096 ? batch.subarray(n) : undefined;
    this.#batchLength = 0;
    this.#sink.send(out);
  }

  /** Subscribes the peer (a PUB/XPUB) to `topic`: SUBSCRIBE to 3.1 peers, \x01topic to 3.0 peers. */
  sendSubscribe(topic: Uint8Array): void {
    this.#sendSubscription(topic, 1);
  }

  /** Cancels a subscription: CANCEL to 3.1 peers, \x00topic to 3.0 peers. */
  sendCancel(topic: Uint8Array): void {
    this.#sendSubscription(topic, 0);
  }

  /** Sends PING with a TTL (ms, rounded down to deciseconds, capped at 6553.5 s) and a 0..16-byte context. */
  sendPing(ttlMs: number, context: Uint8Array = EMPTY): void {
    if (this.#state !== S_READY) throw this.#notReady();
    const ttl = Math.max(0, Math.min(MAX_PING_TTL_DECISECONDS, Math.floor(ttlMs / 100)));
    this.#sendCommand(encodePing(ttl, context));
  }

  /**
   * Sends ERROR (RFC 37 §ERROR) with a reason and closes the engine; the
   * driver then closes the transport. No `error` callback follows.
   */
  sendError(reason: string): void {
    if (this.#state === S_CLOSED) return;
    if (this.#state !== S_NEW) this.#sendCommand(encodeError(reason));
    this.close();
  }

  /**
   * The transport reached end of stream. Reports `ZMTP_TRUNCATED` (a
   * DecodeError with the stream offset and the state: greeting, handshake,
   * frame) when the peer stopped before the handshake completed or inside a
   * frame or multipart message; otherwise just closes. Either way the engine
   * is closed afterwards.
   */
  end(): void {
    const state = this.#state;
    if (state === S_CLOSED) return;
    if (state === S_READY && this.#decoder.idle && this.#wrappedFrames.length === 0) {
      this.close();
      return;
    }
    if (state === S_HANDSHAKE) {
      const explained = this.#mechanism.explainEnd?.();
      if (explained !== undefined) {
        this.#fail(explained);
        return;
      }
    }
    let where: string;
    let offset: number;
    if (state === S_NEW || state === S_GREETING) {
      where = "greeting";
      offset = this.#greetingDecoder.received;
    } else {
      where = state === S_HANDSHAKE ? "handshake" : "frame";
      offset = this.#decoder.offset;
    }
    this.#fail(new DecodeError("ZMTP_TRUNCATED", `peer closed the stream during the ${where}`, offset, where));
  }

  /**
   * Closes the engine: batched output is flushed first, then later input is
   * ignored and no callback fires (pending authenticators are disregarded).
   */
  close(): void {
    if (this.#state !== S_CLOSED && this.#batchLength > 0) this.flush();
    this.#batch = undefined;
    this.#batchLength = 0;
    this.#state = S_CLOSED;
    this.#decoder.stop();
  }

  // ---- input ----

  #onGreeting(greeting: Greeting): void {
    this.#peerGreeting = greeting;
    const mechanism = this.#mechanism;
    if (greeting.mechanism !== mechanism.name) {
      this.#fail(
        new VtxError("ZMTP_MECHANISM_MISMATCH", `peer proposes ${greeting.mechanism}, we use ${mechanism.name}`, {
          detail: { local: mechanism.name, remote: greeting.mechanism },
        }),
      );
      return;
    }
    // RFC 37 §"Version Negotiation": a 3.0 peer gets 3.0 behaviour (subscriptions as messages).
    this.#subscriptionsAsCommands = greeting.major > 3 || greeting.minor >= 1;
    this.#state = S_HANDSHAKE;
    let step: MechanismStep;
    try {
      step = mechanism.start({
        socketType: this.socketType,
        localMetadata: this.#localMetadata,
        peerAddress: this.peerAddress,
        peerGreeting: greeting,
      });
    } catch (err) {
      this.#fail(asVtxError(err));
      return;
    }
    this.#applyStep(step);
  }

  #onMessage(frames: Buffer[]): void {
    const framing = this.#framing;
    if (this.#state === S_READY && framing !== undefined && framing.carrier === "message") {
      // Each wrapped frame travels as a frame of its own (libzmq never sets MORE on MESSAGE frames).
      const offset = this.#decoder.offset;
      for (let i = 0; i < frames.length && this.#state === S_READY; i++) this.#onWrapped(frames[i]!, offset);
      return;
    }
    if (this.#state !== S_READY || framing !== undefined) {
      this.#unexpectedMessage();
      return;
    }
    this.#deliver(frames);
  }

  #deliver(frames: Buffer[]): void {
    if (this.#acceptsSubscriptions && frames.length === 1) {
      // RFC 37 §"The PUB/XPUB socket types" (3.0 form): \x01topic / \x00topic.
      const f = frames[0]!;
      if (f.length > 0 && f[0]! <= 1) {
        const topic = Buffer.from(f.subarray(1));
        if (f[0] === 1) this.#sink.subscribe?.(topic);
        else this.#sink.cancel?.(topic);
        return;
      }
    }
    this.#sink.message(frames);
  }

  #onCommand(body: Buffer, offset: number): void {
    const state = this.#state;
    if (state === S_READY) {
      if (this.#framing !== undefined) this.#onWrapped(body, offset);
      else this.#onReadyCommand(body, offset);
      return;
    }
    if (state !== S_HANDSHAKE) return;
    let result: MechanismStep | Promise<MechanismStep>;
    try {
      result = this.#mechanism.handle(parseCommand(body, offset), offset);
    } catch (err) {
      this.#fail(asVtxError(err));
      return;
    }
    if (!isPromiseLike(result)) {
      this.#applyStep(result);
      return;
    }
    // An asynchronous step (authenticator): decode nothing more until it settles.
    this.#decoder.pause();
    result.then(
      (step) => {
        if (this.#state === S_CLOSED) return;
        this.#applyStep(step);
        if (this.#state !== S_CLOSED) this.#decoder.resume();
      },
      (err: unknown) => this.#fail(asVtxError(err)),
    );
  }

  #onReadyCommand(body: Buffer, offset: number): void {
    let command: ZmtpCommand;
    try {
      command = parseCommand(body, offset);
      const at = commandDataOffset(command, offset);
      switch (command.name) {
        case CMD_PING: {
          const ping = decodePing(command.data, at);
          // RFC 37 §PING: answer with PONG carrying the ping's context.
          this.#sendCommand(encodePong(ping.context));
          this.#sink.ping?.(ping.ttl * 100, ping.context);
          return;
        }
        case CMD_PONG:
          this.#sink.pong?.(decodePong(command.data, at));
          return;
        case CMD_SUBSCRIBE:
          this.#sink.subscribe?.(Buffer.from(command.data));
          return;
        case CMD_CANCEL:
          this.#sink.cancel?.(Buffer.from(command.data));
          return;
        case CMD_ERROR: {
          const reason = decodeError(command.data, at);
          this.#fail(new VtxError("ZMTP_PEER_ERROR", `peer sent ERROR: ${reason}`, { detail: { reason } }));
          return;
        }
        case CMD_READY:
        case "HELLO":
        case "WELCOME":
        case "INITIATE":
          this.#fail(
            new VtxError("ZMTP_UNEXPECTED_COMMAND", `${command.name} after the handshake`, { detail: { command: command.name, offset } }),
          );
          return;
        default:
          // Unknown commands after the handshake are ignored, as libzmq does, so later protocol additions do not break us.
          return;
      }
    } catch (err) {
      this.#fail(asVtxError(err));
    }
  }

  #onWrapped(body: Buffer, offset: number): void {
    let frame: { flags: number; body: Buffer };
    try {
      frame = this.#framing!.unwrap(body, offset);
    } catch (err) {
      this.#fail(asVtxError(err));
      return;
    }
    if ((frame.flags & FLAG_COMMAND) !== 0) {
      this.#onReadyCommand(frame.body, offset);
      return;
    }
    const total = this.#wrappedBytes + frame.body.length;
    if (total > this.maxMessageSize) {
      this.#fail(new VtxError("ZMTP_MESSAGE_TOO_LARGE", `message of at least ${total} bytes exceeds ${this.maxMessageSize}`, { detail: { offset } }));
      return;
    }
    this.#wrappedFrames.push(frame.body);
    if ((frame.flags & FLAG_MORE) !== 0) {
      this.#wrappedBytes = total;
      return;
    }
    const frames = this.#wrappedFrames;
    this.#wrappedFrames = [];
    this.#wrappedBytes = 0;
    this.#deliver(frames);
  }

  #applyStep(step: MechanismStep): void {
    const send = step.send;
    if (send !== undefined && send.length > 0) {
      // One write for all commands of the step.
      let total = 0;
      for (const body of send) total += frameHeaderSize(body.length) + body.length;
      const out = Buffer.allocUnsafe(total);
      let at = 0;
      for (const body of send) {
        at = writeFrameHeader(out, at, FLAG_COMMAND, body.length);
        out.set(body, at);
        at += body.length;
      }
      this.#write(out);
    }
    if (step.error !== undefined) {
      this.#fail(step.error);
      return;
    }
    if (step.done !== undefined) this.#onDone(step.done);
  }

  #onDone(done: MechanismDone): void {
    const props = done.metadata;
    const typeBytes = getProperty(props, PROPERTY_SOCKET_TYPE);
    if (typeBytes === undefined) {
      this.#reject(new VtxError("ZMTP_MALFORMED_METADATA", "peer metadata has no Socket-Type"));
      return;
    }
    const remote = typeBytes.toString("latin1");
    if (!isZmtpSocketType(remote) || !isCompatible(this.socketType, remote)) {
      this.#reject(
        new VtxError("ZMTP_INCOMPATIBLE_SOCKET_TYPE", `a ${this.socketType} cannot talk to a ${remote}`, {
          detail: { local: this.socketType, remote },
        }),
      );
      return;
    }
    const metadata = Object.create(null) as Record<string, string>;
    for (const [name, value] of props) metadata[name] = value.toString("utf8");
    const greeting = this.#peerGreeting!;
    this.#peer = {
      socketType: remote,
      identity: getProperty(props, PROPERTY_IDENTITY) ?? EMPTY,
      metadata,
      properties: props,
      major: greeting.major,
      minor: greeting.minor,
      mechanism: greeting.mechanism,
      userId: done.userId,
    };
    this.#framing = this.#mechanism.framing;
    this.#wrappedFlag = this.#framing?.carrier === "message" ? 0 : FLAG_COMMAND;
    // A wrapped frame is the message bytes plus the mechanism's envelope (CURVE: 33 bytes).
    this.#decoder.maxMessageSize = this.#framing !== undefined && this.#wrappedFlag === 0 ? this.maxMessageSize + COMMAND_ENVELOPE_ALLOWANCE : this.maxMessageSize;
    this.#decoder.maxCommandSize = this.maxMessageSize + COMMAND_ENVELOPE_ALLOWANCE;
    this.#state = S_READY;
    this.#sink.ready(this.#peer);
  }

  // ---- output ----

  #sendSubscription(topic: Uint8Array, flag: 0 | 1): void {
    if (this.#state !== S_READY) throw this.#notReady();
    if (this.#subscriptionsAsCommands) {
      this.#sendCommand(flag === 1 ? encodeSubscribe(topic) : encodeCancel(topic));
      return;
    }
    const body = Buffer.allocUnsafe(topic.length + 1);
    body[0] = flag;
    body.set(topic, 1);
    if (this.#framing !== undefined) this.#sendWrapped([body]);
    else this.#write(encodeMessage([body]));
  }

  #sendCommand(body: Uint8Array): void {
    const framing = this.#framing;
    if (framing === undefined) {
      this.#write(encodeCommandFrame(body));
      return;
    }
    const wrapped = framing.wrap(FLAG_COMMAND, body);
    const out = Buffer.allocUnsafe(frameHeaderSize(wrapped.length) + wrapped.length);
    out.set(wrapped, writeFrameHeader(out, 0, this.#wrappedFlag, wrapped.length));
    this.#write(out);
  }

  #sendWrapped(frames: readonly Uint8Array[]): void {
    const framing = this.#framing!;
    const last = frames.length - 1;
    const wrapped: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; i <= last; i++) {
      const w = framing.wrap(i < last ? FLAG_MORE : 0, frames[i]!);
      wrapped.push(w);
      total += frameHeaderSize(w.length) + w.length;
    }
    const out = Buffer.allocUnsafe(total);
    let at = 0;
    const flag = this.#wrappedFlag;
    for (const w of wrapped) {
      at = writeFrameHeader(out, at, flag, w.length);
      out.set(w, at);
      at += w.length;
    }
    this.#write(out);
  }

  /** Everything but batched messages: flush the batch first so bytes stay in order. */
  #write(bytes: Buffer): void {
    if (this.#batchLength > 0) this.flush();
    this.#sink.send(bytes);
  }

  // ---- failure ----

  #notReady(): VtxError {
    return new VtxError("ZMTP_NOT_READY", `cannot send while the engine is ${this.state}`);
  }

  #unexpectedMessage(): void {
    this.#reject(new VtxError("ZMTP_UNEXPECTED_MESSAGE", `message frame while the engine is ${this.state}`));
  }

  /** A handshake-phase refusal: tell the peer with ERROR (RFC 37 §ERROR), then fail. */
  #reject(err: VtxError): void {
    if (this.#state === S_CLOSED) return;
    try {
      this.#sendCommand(encodeError(err.message));
    } finally {
      this.#fail(err);
    }
  }

  #fail(err: VtxError): void {
    if (this.#state === S_CLOSED) return;
    this.#state = S_CLOSED;
    this.#decoder.stop();
    this.#sink.error(err);
  }
}
