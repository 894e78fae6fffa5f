import * as net from "node:net";
import { unlinkSync } from "node:fs";
import { VtxError } from "../errors.js";
import { abstractNeedsLibzmq, directBindAddress, formatEndpoint } from "./endpoint.js";
import { ZmtpConnection } from "./zmtp-connection.js";

export interface DirectRouterOptions {
  /** Incoming messages larger than this drop the connection. */
  maxMessageSize: number;
  /** A connection must finish its ZMTP handshake within this many ms. */
  handshakeTimeout: number;
  /**
   * A peer whose unread replies pass this many bytes is disconnected (it
   * does not read; libzmq's ROUTER would drop them silently at its HWM).
   */
  maxBacklog: number;
  /** One message from a peer: its routing id and frames. */
  message(identity: Buffer, frames: Buffer[]): void;
  /** A connection failed (handshake timeout, bad framing, too large): for the log. */
  dropped(peerAddress: string, error: VtxError): void;
  /**
   * Use the routing id a peer announces (its Identity property) when it
   * has one, as libzmq's ROUTER does; a second connection with the same id
   * takes it over and the first is closed (ROUTER_HANDOVER). Default false:
   * every connection gets an id made here (ZPIPES needs no other).
   */
  peerIdentities?: boolean;
  /** Read into the process's recycled slabs (see ZmtpConnectionOptions.recycleSlabs). */
  recycleSlabs?: boolean;
}

const ID_MARK = 0xd1;

/**
 * True for routing ids this router makes: 6 bytes, 0x00 0xd1 then a counter.
 * libzmq's own are 5 bytes (0x00 then a counter) and ids peers choose never
 * start with 0x00, so a broker serving both kinds of socket never confuses them.
 */
export function isDirectIdentity(id: Buffer): boolean {
  return id.length === 6 && id[0] === 0 && id[1] === ID_MARK;
}

/**
 * A ZMTP ROUTER served without libzmq: listens on ipc:// and tcp://
 * endpoints with node:net, one {@link ZmtpConnection} per peer (REQ,
 * DEALER or ROUTER, NULL mechanism), each given its own routing id.
 * Messages to an id that is gone are dropped, as libzmq's ROUTER does
 * without ROUTER_MANDATORY.
 */
export class DirectRouter {
  readonly #options: DirectRouterOptions;
  readonly #servers: net.Server[] = [];
  readonly #unlink: string[] = [];
  readonly #peers = new Map<string, ZmtpConnection>();
  readonly #all = new Set<ZmtpConnection>();
  #next = Math.floor(Math.random() * 0x1_0000_0000);
  #closed = false;

  constructor(options: DirectRouterOptions) {
    this.#options = options;
  }

  /** True when `endpoint` is one this router can bind. */
  static accepts(endpoint: string): boolean {
    return directBindAddress(endpoint) !== undefined;
  }

  /** True when libzmq must bind `endpoint` too, for peers other than vtx's (abstract ipc://, see {@link abstractNeedsLibzmq}). */
  static alsoNeedsLibzmq(endpoint: string): boolean {
    const addr = directBindAddress(endpoint);
    return addr !== undefined && abstractNeedsLibzmq(addr);
  }

  get connections(): number {
    return this.#all.size;
  }

  /** Binds `endpoint`; resolves with the endpoint actually bound (ephemeral tcp port resolved). */
  async bind(endpoint: string): Promise<string> {
    const addr = directBindAddress(endpoint);
    if (addr === undefined) throw new VtxError("VTX_BAD_ENDPOINT", `not an endpoint served directly: ${endpoint}`);
    const server = net.createServer({ noDelay: true }, (socket) => this.#accept(socket));
    server.on("error", () => undefined);
    if (addr.kind === "ipc" && !addr.path.startsWith("\0")) {
      // As libzmq does: a stale socket file from an earlier run is replaced.
      try {
        unlinkSync(addr.path);
      } catch {
        // Not there.
      }
    }
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      const done = (): void => {
        server.off("error", reject);
        resolve();
      };
      if (addr.kind === "ipc") server.listen(addr.path, done);
      else server.listen({ port: addr.port, ...(addr.host !== undefined ? { host: addr.host } : { host: "0.0.0.0" }) }, done);
    });
    this.#servers.push(server);
    if (addr.kind === "ipc") {
      if (!addr.path.startsWith("\0")) this.#unlink.push(addr.path);
      return endpoint;
    }
    if (addr.port !== 0) return endpoint;
    return formatEndpoint(addr, (server.address() as net.AddressInfo).port);
  }

  #accept(socket: net.Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    const peerAddress = socket.remoteAddress !== undefined ? `${socket.remoteAddress}:${socket.remotePort}` : "ipc";
    let key: string | null = null;
    let identity: Buffer | null = null;
    const conn: ZmtpConnection = new ZmtpConnection(
      socket,
      {
        socketType: "ROUTER",
        maxMessageSize: this.#options.maxMessageSize,
        handshakeTimeout: this.#options.handshakeTimeout,
        peerAddress,
        ...(this.#options.recycleSlabs === true ? { recycleSlabs: true } : {}),
      },
      {
        ready: (peer) => {
          let id: Buffer;
          if (this.#options.peerIdentities === true && peer.identity.length > 0) {
            id = Buffer.from(peer.identity);
          } else {
            id = Buffer.allocUnsafe(6);
            id[0] = 0;
            id[1] = ID_MARK;
            id.writeUInt32BE(this.#next, 2);
            this.#next = (this.#next + 1) >>> 0;
          }
          identity = id;
          key = id.toString("latin1");
          const previous = this.#peers.get(key);
          this.#peers.set(key, conn);
          previous?.close();
        },
        message: (frames) => {
          if (identity !== null) this.#options.message(identity, frames);
        },
        closed: (error) => {
          this.#all.delete(conn);
          if (key !== null && this.#peers.get(key) === conn) this.#peers.delete(key);
          if (error !== undefined && !this.#closed) this.#options.dropped(peerAddress, error);
        },
      },
    );
    this.#all.add(conn);
  }

  /**
   * Sends a one-frame message to `identity` (its body: `parts` concatenated);
   * dropped if that peer is gone. `onWritten` as for ZmtpConnection.send
   * (never called when the message is dropped).
   */
  send(identity: Buffer, parts: readonly Uint8Array[], onWritten?: () => void): void {
    const conn = this.#peers.get(identity.toString("latin1"));
    if (conn === undefined) return;
    if (conn.backlog > this.#options.maxBacklog) {
      conn.destroy(new VtxError("ZPIPES_PEER_NOT_READING", `peer does not read: more than ${this.#options.maxBacklog} bytes of replies unread`));
      return;
    }
    conn.send(parts, onWritten);
  }

  /** Stops listening and closes every connection (what was sent is still written). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const conn of [...this.#all]) conn.close();
    await Promise.all(this.#servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    for (const path of this.#unlink) {
      try {
        unlinkSync(path);
      } catch {
        // Already gone.
      }
    }
  }
}
