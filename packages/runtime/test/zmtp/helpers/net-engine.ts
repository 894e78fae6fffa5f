import * as net from "node:net";
import { ZmtpEngine, type ZmtpEngineOptions } from "../../../src/zmtp/index.js";
import { Recorder } from "./engine-harness.js";

/**
 * The smallest possible stream driver for tests: a node TCP socket wrapped
 * around a ZmtpEngine. Fatal engine errors destroy the socket, as the real
 * driver must.
 */
export class NetEngine {
  readonly rec = new Recorder();
  readonly engine: ZmtpEngine;
  /** Set when the TCP connection closed, for whatever reason. */
  closed = false;
  /** How many messages went out through the gather-write path. */
  sendvCalls = 0;
  readonly #socket: net.Socket;

  constructor(socket: net.Socket, options: ZmtpEngineOptions) {
    this.#socket = socket;
    socket.setNoDelay(true);
    // Gather writes for big bodies, passed by reference (zero-copy path).
    (this.rec as Recorder & { sendv?: (chunks: Buffer[]) => void }).sendv = (chunks) => {
      this.sendvCalls++;
      socket.cork();
      for (const c of chunks) socket.write(c);
      socket.uncork();
    };
    this.engine = new ZmtpEngine({ peerAddress: `${socket.remoteAddress}:${socket.remotePort}`, ...options }, this.rec);
    this.rec.forward = (bytes) => socket.write(bytes);
    const onError = this.rec.error.bind(this.rec);
    this.rec.error = (err) => {
      onError(err);
      // end(), not destroy(): the ERROR command the engine just wrote must reach the peer.
      socket.end();
    };
    socket.on("data", (chunk: Buffer) => this.engine.push(chunk));
    socket.on("end", () => this.engine.end());
    socket.on("error", () => undefined); // 'close' follows; the test asserts on engine errors
    socket.on("close", () => {
      this.closed = true;
      this.engine.close();
      this.rec.notify();
    });
    this.engine.start();
  }

  /** Dials 127.0.0.1:port. */
  static async connect(port: number, options: ZmtpEngineOptions): Promise<NetEngine> {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new NetEngine(socket, options);
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

/** A TCP listener on 127.0.0.1 that wraps every accepted connection in an engine. */
export class NetEngineServer {
  readonly accepted: NetEngine[] = [];
  readonly #server: net.Server;
  #waiters: Array<() => void> = [];

  private constructor(server: net.Server) {
    this.#server = server;
  }

  static async listen(options: ZmtpEngineOptions): Promise<NetEngineServer> {
    const server = net.createServer();
    const s = new NetEngineServer(server);
    server.on("connection", (socket) => {
      s.accepted.push(new NetEngine(socket, options));
      for (const w of s.#waiters.splice(0)) w();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return s;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  get endpoint(): string {
    return `tcp://127.0.0.1:${this.port}`;
  }

  /** The n-th accepted connection (0-based), waiting at most `ms`. */
  async connection(n = 0, ms = 2000): Promise<NetEngine> {
    const deadline = Date.now() + ms;
    while (this.accepted.length <= n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for connection #${n}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.accepted[n]!;
  }

  async close(): Promise<void> {
    for (const c of this.accepted) c.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
