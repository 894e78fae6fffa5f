import * as net from "node:net";
import { VtxError } from "../errors.js";
import { abstractNeedsLibzmq, directConnectAddress, type DirectAddress } from "./endpoint.js";
import { ZmtpConnection } from "./zmtp-connection.js";

export interface DirectDealerEvents {
  /** One message from the broker. */
  message(frames: Buffer[]): void;
  /**
   * The connection is gone (after it was up), or the handshake was refused.
   * Fires once; nothing is sent or received afterwards.
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

/** Delay between connection attempts while nothing listens yet. */
const RETRY_MS = 100;

/**
 * A ZMTP DEALER with one peer, without libzmq: connects (retrying every
 * 100 ms while the endpoint refuses, as libzmq's reconnect does), queues
 * what is sent until the handshake is done. Unlike libzmq it does not
 * reconnect once connected: the broker's session for this connection is
 * gone with it, so the caller is told (`failed`) and gives up.
 */
export class DirectDealer {
  readonly endpoint: string;
  readonly #addr: DirectAddress;
  readonly #events: DirectDealerEvents;
  #conn: ZmtpConnection | null = null;
  #ready = false;
  #queue: (readonly Uint8Array[])[] = [];
  #retry: NodeJS.Timeout | null = null;
  #closed = false;

  private constructor(endpoint: string, addr: DirectAddress, events: DirectDealerEvents) {
    this.endpoint = endpoint;
    this.#addr = addr;
    this.#events = events;
  }

  /** A dealer for `endpoint`, or undefined when the endpoint is not one served directly. */
  static create(endpoint: string, events: DirectDealerEvents): DirectDealer | undefined {
    const addr = directConnectAddress(endpoint);
    if (addr === undefined) return undefined;
    const d = new DirectDealer(endpoint, addr, events);
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
      if (abstractNeedsLibzmq(addr)) {
        // No vtx broker under node's form of the name: a libzmq one may
        // hold the exact name, which only libzmq can reach.
        this.#closed = true;
        const queued = this.#queue;
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
      this.#conn = new ZmtpConnection(
        socket,
        { socketType: "DEALER", handshakeTimeout: 10_000, peerAddress: this.endpoint },
        {
          ready: () => {
            this.#ready = true;
            const queued = this.#queue;
            this.#queue = [];
            for (const parts of queued) this.#conn!.send(parts);
          },
          message: (frames) => {
            if (!this.#closed) this.#events.message(frames);
          },
          closed: (error) => {
            if (this.#closed) return;
            this.#closed = true;
            this.#events.failed(error ?? new VtxError("ZPIPES_NO_BROKER", `broker at ${this.endpoint} closed the connection`));
          },
        },
      );
    });
  }

  /** Sends one frame (`parts` concatenated; big parts by reference, unchanged until the call settles). */
  send(parts: readonly Uint8Array[]): void {
    if (this.#closed) return;
    if (this.#ready) this.#conn!.send(parts);
    else this.#queue.push(parts);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#queue = [];
    this.#conn?.close();
  }
}
