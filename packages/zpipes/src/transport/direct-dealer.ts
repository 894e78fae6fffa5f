import * as net from "node:net";
import { VtxError } from "../errors.js";
import { abstractNeedsLibzmq, directConnectAddress, type DirectAddress } from "./endpoint.js";
import { ZmtpConnection } from "./zmtp-connection.js";

export interface DirectDealerEvents {
  /** One message from the peer. */
  message(frames: Buffer[]): void;
  /**
   * The connection is gone (after it was up), or the handshake was refused.
   * Fires once; nothing is sent or received afterwards. Never fires with
   * `reconnect`.
   */
  failed(error: VtxError): void;
  /**
   * Only for abstract ipc:// endpoints: nothing answers at node's form of
   * the name (see {@link abstractNeedsLibzmq}); the caller should use libzmq
   * instead, and send `queued` (what was sent so far) that way. Fires at
   * most once, instead of any other event.
   */
  unavailable(queued: (readonly Uint8Array[])[]): void;
}

export interface DirectDealerOptions {
  /** Our routing id, announced as Identity. */
  identity?: Uint8Array;
  /**
   * Behave as libzmq's DEALER does: when the connection is lost, connect
   * again (every 100 ms), holding what is sent meanwhile, up to `maxQueued`
   * messages (more are refused: `send` returns false). Default false: a lost
   * connection is final (`failed`).
   */
  reconnect?: boolean;
  /** Messages held while not connected. Default 1000 (libzmq's send HWM). */
  maxQueued?: number;
}

/** Delay between connection attempts while nothing listens yet. */
const RETRY_MS = 100;

interface Queued {
  /** One frame of `parts` concatenated, or a multipart message of them. */
  multipart: boolean;
  parts: readonly Uint8Array[];
}

/**
 * A ZMTP DEALER with one peer, without libzmq: connects (retrying every
 * 100 ms while the endpoint refuses, as libzmq's reconnect does), queues
 * what is sent until the handshake is done. By default it does not
 * reconnect once connected: the ZPIPES broker's session for this connection
 * is gone with it, so the caller is told (`failed`) and gives up. With
 * `reconnect` (ZRE links) it connects again, as libzmq would.
 */
export class DirectDealer {
  readonly endpoint: string;
  readonly #addr: DirectAddress;
  readonly #events: DirectDealerEvents;
  readonly #options: DirectDealerOptions;
  #conn: ZmtpConnection | null = null;
  #ready = false;
  #queue: Queued[] = [];
  #retry: NodeJS.Timeout | null = null;
  #closed = false;

  private constructor(endpoint: string, addr: DirectAddress, events: DirectDealerEvents, options: DirectDealerOptions) {
    this.endpoint = endpoint;
    this.#addr = addr;
    this.#events = events;
    this.#options = options;
  }

  /** A dealer for `endpoint`, or undefined when the endpoint is not one served directly. */
  static create(endpoint: string, events: DirectDealerEvents, options: DirectDealerOptions = {}): DirectDealer | undefined {
    const addr = directConnectAddress(endpoint);
    if (addr === undefined) return undefined;
    const d = new DirectDealer(endpoint, addr, events, options);
    d.#attempt();
    return d;
  }

  #attempt(): void {
    this.#retry = null;
    if (this.#closed) return;
    const addr = this.#addr;
    const socket = addr.kind === "ipc" ? net.connect({ path: addr.path }) : net.connect({ host: addr.host, port: addr.port, noDelay: true });
    const refused = (): void => {
      socket.destroy();
      if (this.#closed) return;
      if (abstractNeedsLibzmq(addr) && this.#options.reconnect !== true) {
        // No vtx broker under node's form of the name: a libzmq one may
        // hold the exact name, which only libzmq can reach.
        this.#closed = true;
        const queued = this.#queue.map((q) => q.parts);
        this.#queue = [];
        this.#events.unavailable(queued);
        return;
      }
      this.#retry = setTimeout(() => this.#attempt(), RETRY_MS);
    };
    socket.once("error", refused);
    socket.once("connect", () => {
      socket.off("error", refused);
      if (this.#closed) {
        socket.destroy();
        return;
      }
      const conn: ZmtpConnection = new ZmtpConnection(
        socket,
        { socketType: "DEALER", handshakeTimeout: 10_000, peerAddress: this.endpoint, ...(this.#options.identity ? { identity: this.#options.identity } : {}) },
        {
          ready: () => {
            this.#ready = true;
            const queued = this.#queue;
            this.#queue = [];
            for (const q of queued) this.#write(conn, q);
          },
          message: (frames) => {
            if (!this.#closed) this.#events.message(frames);
          },
          closed: (error) => {
            if (this.#closed || this.#conn !== conn) return;
            this.#conn = null;
            this.#ready = false;
            if (this.#options.reconnect === true) {
              this.#retry = setTimeout(() => this.#attempt(), RETRY_MS);
              return;
            }
            this.#closed = true;
            this.#events.failed(error ?? new VtxError("ZPIPES_NO_BROKER", `peer at ${this.endpoint} closed the connection`));
          },
        },
      );
      this.#conn = conn;
    });
  }

  #write(conn: ZmtpConnection, q: Queued): void {
    if (q.multipart) conn.sendMessage(q.parts);
    else conn.send(q.parts);
  }

  /** Sends one frame (`parts` concatenated; big parts by reference, unchanged until the call settles). */
  send(parts: readonly Uint8Array[]): boolean {
    return this.#send({ multipart: false, parts });
  }

  /** Sends a multipart message, one frame per element (big frames by reference). */
  sendMessage(frames: readonly Uint8Array[]): boolean {
    return this.#send({ multipart: true, parts: frames });
  }

  #send(q: Queued): boolean {
    if (this.#closed) return false;
    if (this.#ready && this.#conn !== null) {
      this.#write(this.#conn, q);
      return true;
    }
    if (this.#options.reconnect === true && this.#queue.length >= (this.#options.maxQueued ?? 1000)) return false;
    this.#queue.push(q);
    return true;
  }

  /**
   * Closes: what was sent on a live connection is still written out, for at
   * most `graceMs` if the peer does not take it; what is held while not
   * connected is dropped. Resolves when the connection is gone, so a
   * process that exits afterwards does not cut its last messages off.
   */
  close(graceMs = 1000): Promise<void> {
    if (this.#closed) return this.#conn?.gone ?? Promise.resolve();
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#queue = [];
    const conn = this.#conn;
    if (conn === null) return Promise.resolve();
    conn.close(undefined, graceMs);
    return conn.gone;
  }
}
