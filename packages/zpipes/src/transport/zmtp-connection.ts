import type * as net from "node:net";
import { ZmtpEngine, type ZmtpPeer } from "@vtx/runtime/zmtp/engine";
import type { ZmtpSocketType } from "@vtx/runtime/zmtp/socket-type";
import { readIntoSlabs, VIEW_MIN_BYTES } from "@vtx/runtime/stream/slab-reader";
import { SlabPool } from "@vtx/runtime/stream/slab-pool";
import { endStream, GatherWriter, streamError } from "@vtx/runtime/stream/stream-io";
import { VtxError } from "../errors.js";

/** Encoded small messages are batched up to this many bytes per write. */
const BATCH_BYTES = 64 * 1024;
/**
 * Read slabs of 1 MiB rather than the runtime's 256 KiB: a ZPIPES chunk is
 * usually 64 KiB, and a frame that a new slab cuts in two is copied, so with
 * 256 KiB about one chunk in four was (a fresh 64 KiB buffer, and its page
 * faults); with 1 MiB one in fifteen. Measured with a warm broker, 256 MiB,
 * interleaved: 219–279 MB/s with 256 KiB slabs, 252–293 with 1 MiB, and
 * 10–25 % less broker CPU. Chunks are held as views, so a slab stays alive
 * while a pipe (bounded by its budget) or the application holds one of its chunks.
 */
const SLAB_BYTES = 1024 * 1024;

/**
 * Read slabs for connections whose owner hands chunks back once written
 * (the broker's, see {@link ZmtpConnectionOptions.recycleSlabs}), shared by
 * every such connection of the process. 32 free slabs (32 MiB) cover eight
 * pipes' default budgets.
 */
let sharedPool: SlabPool | undefined;
export function brokerSlabPool(): SlabPool {
  sharedPool ??= new SlabPool(SLAB_BYTES, 32);
  return sharedPool;
}

export interface ZmtpConnectionOptions {
  socketType: ZmtpSocketType;
  /** Incoming messages larger than this close the connection (ZMTP_MESSAGE_TOO_LARGE). */
  maxMessageSize?: number;
  /** The handshake must finish within this many ms (0: no limit). */
  handshakeTimeout: number;
  peerAddress: string;
  /** Our routing id, announced as Identity (a ZRE DEALER's %x01 + UUID). */
  identity?: Uint8Array;
  /**
   * Read into slabs of {@link brokerSlabPool}: every frame delivered as a
   * view of a slab is counted there, and the slab is read into again once
   * each such frame was handed back with `pool.release(frame)` (for
   * instance from the `onWritten` callback of {@link ZmtpConnection.send}).
   * A frame never handed back keeps its slab out of the pool: safe, only
   * not reused. For owners that pass chunks through (the broker), not for
   * ones that give them to an application.
   */
  recycleSlabs?: boolean;
}

export interface ZmtpConnectionEvents {
  ready(peer: ZmtpPeer): void;
  /** One message; frames of 32 KiB and more are views of a read slab (counted in the pool with `recycleSlabs`). */
  message(frames: Buffer[]): void;
  /** The connection is over; `error` undefined for an orderly close. Fires once. */
  closed(error: VtxError | undefined): void;
}

/**
 * One ZMTP 3.1 connection (NULL mechanism) over a node:net socket, with no
 * libzmq in between: the runtime's ZMTP engine, slab reads, batched and
 * gathered writes flushed once per tick. ZPIPES uses it on its hot path
 * (the broker's ROUTER side, the client's DEALER side) because every
 * zeromq.js call costs several system calls (ZMQ_EVENTS queries) and two
 * thread hops, which dominated a chunk's cost.
 */
export class ZmtpConnection {
  readonly peerAddress: string;
  readonly #socket: net.Socket;
  readonly #engine: ZmtpEngine;
  readonly #events: ZmtpConnectionEvents;
  #handshakeTimer: NodeJS.Timeout | null = null;
  readonly #out: GatherWriter;
  #flushQueued = false;
  #closed = false;
  /**
   * Resolves when the socket is closed: after {@link close}, once what was
   * written has been handed to the kernel, which delivers it even after the
   * process exits (or once the grace period cut it off).
   */
  readonly gone: Promise<void>;

  constructor(socket: net.Socket, options: ZmtpConnectionOptions, events: ZmtpConnectionEvents) {
    this.#socket = socket;
    this.peerAddress = options.peerAddress;
    this.#events = events;
    this.#out = new GatherWriter(socket);
    socket.setNoDelay?.(true);
    const onChunk = (chunk: Buffer): boolean => {
      this.#engine.push(chunk);
      return true;
    };
    const pool = options.recycleSlabs === true ? brokerSlabPool() : undefined;
    const source =
      pool === undefined
        ? undefined
        : {
            take: () => pool.take(),
            // A slab the decoder still holds a view of is left to the GC.
            retire: (slab: Buffer) => {
              if (!this.#engine.refersTo(slab.buffer)) pool.release(slab);
            },
          };
    const slabs = readIntoSlabs(socket, onChunk, SLAB_BYTES, (slab) => this.#engine.carryPartialFrame(slab), source);
    this.#engine = new ZmtpEngine(
      {
        socketType: options.socketType,
        ...(options.identity !== undefined ? { identity: options.identity } : {}),
        ...(options.maxMessageSize !== undefined ? { maxMessageSize: options.maxMessageSize } : {}),
        peerAddress: options.peerAddress,
        batchSize: BATCH_BYTES,
        copyBelow: slabs ? VIEW_MIN_BYTES : 0,
      },
      {
        // Big frames are gathered into one writev until the end of the tick.
        send: (bytes) => this.#out.write(bytes),
        sendv: (chunks, written) => this.#out.writev(chunks, written),
        ready: (peer) => {
          if (this.#handshakeTimer) clearTimeout(this.#handshakeTimer);
          this.#handshakeTimer = null;
          this.#events.ready(peer);
        },
        message:
          pool === undefined
            ? (frames) => this.#events.message(frames)
            : (frames) => {
                for (let i = 0; i < frames.length; i++) pool.retain(frames[i]!);
                this.#events.message(frames);
              },
        error: (err) => this.close(err),
      },
    );
    // Slab reads bypass 'data'; anything read before they took over comes that way.
    socket.on("data", onChunk);
    socket.on("error", (err: Error & { code?: string }) => this.close(streamError(err)));
    socket.on("end", () => {
      if (!this.#closed) this.#engine.end();
      this.close(undefined);
    });
    socket.on("close", () => this.close(undefined));
    this.gone = new Promise((resolve) => {
      if (socket.destroyed) resolve();
      else socket.once("close", () => resolve());
    });
    if (options.handshakeTimeout > 0) {
      this.#handshakeTimer = setTimeout(
        () => this.close(new VtxError("ZMTP_HANDSHAKE_TIMEOUT", `handshake not finished within ${options.handshakeTimeout} ms`)),
        options.handshakeTimeout,
      );
    }
    this.#engine.start();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes handed to the socket in earlier ticks that the kernel has not taken yet (the peer is not reading them). */
  get backlog(): number {
    return this.#out.unread;
  }

  /**
   * Sends a one-frame message whose body is `parts` concatenated (big parts
   * by reference: they must not change until the peer has them). Written
   * at the end of the current tick, together with whatever else was sent.
   * `onWritten`, when given, is called once `parts` are no longer needed
   * (written to the kernel, copied, or dropped with a destroyed socket);
   * never if the connection is closed first.
   */
  send(parts: readonly Uint8Array[], onWritten?: () => void): void {
    if (this.#closed) return;
    this.#engine.sendFrameParts(parts, onWritten);
    this.#queueFlush();
  }

  /** Sends a multipart message (one frame per element; big frames by reference). */
  sendMessage(frames: readonly Uint8Array[]): void {
    if (this.#closed) return;
    this.#engine.sendMessage(frames);
    this.#queueFlush();
  }

  #queueFlush(): void {
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      process.nextTick(() => this.flush());
    }
  }

  flush(): void {
    this.#flushQueued = false;
    if (this.#closed) return;
    this.#engine.flush();
    this.#out.flush();
  }

  /**
   * Closes the connection: what was sent is still written out (then the
   * socket ends), for at most `graceMs` if the peer does not take it.
   */
  close(error?: VtxError, graceMs = 1000): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    if (this.#handshakeTimer) clearTimeout(this.#handshakeTimer);
    this.#engine.close();
    endStream(this.#socket, graceMs);
    this.#events.closed(error);
  }

  /** Closes at once, discarding unwritten output (a peer that does not read). */
  destroy(error: VtxError): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#handshakeTimer) clearTimeout(this.#handshakeTimer);
    this.#engine.close();
    this.#socket.on("error", () => undefined);
    this.#socket.destroy();
    this.#events.closed(error);
  }
}
