import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { VtxError } from "@vtx/runtime/driver-kit";
import type { WebSocket } from "ws";
import { ZWS_ERR } from "./codes.js";
import type { ZwsSubprotocol } from "./subprotocol.js";
import { ZwsFraming } from "./zws-framing.js";

/** Outgoing bytes buffered in the socket before our writes report back-pressure. */
const WRITE_HIGH_WATER = 1024 * 1024;
/** How long an orderly close waits for the peer's close frame before cutting the socket. */
const CLOSE_GRACE_MS = 1000;
/**
 * Translated frames are gathered while `ws` parses one socket read (it
 * emits each message synchronously) and handed to the engine as one chunk
 * at the end of that turn, up to this many bytes; bigger pieces go alone.
 * One engine push per read instead of one per message, as over TCP.
 */
const IN_BATCH_BYTES = 64 * 1024;

/**
 * WebSocket close codes after which the stream simply ends (RFC 6455
 * §7.4.1): normal, going away, no status, and abnormal (the TCP connection
 * went without a close frame, which is how libzmq leaves).
 */
const ORDERLY_CLOSE = new Set([1000, 1001, 1005, 1006]);

export interface ZwsStreamOptions {
  /** We are the PLAIN server of this link. */
  readonly plainServer: boolean;
}

/**
 * A ZWS 2.0 WebSocket presented as the ZMTP byte stream the runtime's
 * {@link ZmtpLink} drives, so the ws driver reuses the stream driver
 * whole: sessions, reconnects, heartbeats, handshake timeout, bridges.
 * {@link ZwsFraming} rewrites the frames in both directions.
 *
 * Server side, the stream exists from TCP accept, before the WebSocket
 * upgrade: the link's handshake timeout then covers the HTTP upgrade too,
 * and an upgrade refused for a reason (wrong path, no common subprotocol)
 * is reported through {@link fail} as the link's error, with a code.
 *
 * Errors (`destroy(err)`, seen by the link as its close reason) carry a
 * `ZWS_*` code, or the socket's own code (ECONNRESET...).
 */
export class ZwsStream extends Duplex {
  readonly #options: ZwsStreamOptions;
  #ws: WebSocket | null = null;
  #raw: Socket | null = null;
  #framing: ZwsFraming | null = null;
  /** Bytes written before the WebSocket opened (the engine's greeting). */
  #early: Buffer[] = [];
  #wsPaused = false;
  #closing = false;
  #inBatch: Buffer[] = [];
  #inBytes = 0;
  #inScheduled = false;
  readonly #flushIn = (): void => {
    this.#inScheduled = false;
    const batch = this.#inBatch;
    if (batch.length === 0 || this.destroyed) return;
    this.#inBatch = [];
    const bytes = this.#inBytes;
    this.#inBytes = 0;
    this.#deliver(batch.length === 1 ? batch[0]! : Buffer.concat(batch, bytes));
  };

  constructor(options: ZwsStreamOptions) {
    super({ allowHalfOpen: false, decodeStrings: true });
    this.#options = options;
  }

  /** The agreed subprotocol, once open. */
  get subprotocol(): ZwsSubprotocol | undefined {
    return this.#framing?.subprotocol;
  }

  /**
   * The WebSocket is open with `subprotocol`: start translating. `raw` is
   * the TCP or TLS socket under it, corked around each batch of frames so
   * they leave in one write.
   */
  open(ws: WebSocket, raw: Socket, subprotocol: ZwsSubprotocol): void {
    if (this.destroyed) {
      ws.terminate();
      return;
    }
    this.#ws = ws;
    this.#raw = raw;
    const framing = new ZwsFraming(
      { subprotocol, plainServer: this.#options.plainServer },
      {
        toEngine: (bytes) => this.#toEngine(bytes),
        toPeer: (message) => ws.send(message),
        ping: () => ws.ping(),
      },
    );
    this.#framing = framing;
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (this.destroyed) return;
      if (!isBinary) {
        this.#protocolError(new VtxError(ZWS_ERR.NOT_BINARY, "text WebSocket message (ZWS messages are binary, RFC 45)"), 1003);
        return;
      }
      try {
        framing.fromPeer(data);
      } catch (err) {
        this.#protocolError(err instanceof VtxError ? err : new VtxError("VTX_INTERNAL", String(err)), 1002);
      }
    });
    ws.on("ping", () => framing.peerAlive());
    ws.on("pong", () => framing.peerAlive());
    ws.on("error", (err: Error & { code?: string }) => this.destroy(wsError(err)));
    ws.on("close", (code: number, reason: Buffer) => {
      if (this.destroyed) return;
      this.#flushIn();
      if (ORDERLY_CLOSE.has(code) || this.#closing) {
        this.push(null);
        return;
      }
      const text = reason.toString("utf8");
      this.destroy(
        new VtxError(ZWS_ERR.PEER_CLOSED, `peer closed the WebSocket with ${code}${text ? ` (${text})` : ""}`, { detail: { code, reason: text } }),
      );
    });
    // The engine's greeting (written before the upgrade) goes first: the
    // framing drops our first 64 bytes, whatever the engine writes next.
    const early = this.#early;
    this.#early = [];
    if (early.length > 0) {
      this.#writeChunks(early, (err) => {
        if (err) this.destroy(err);
      });
    }
    framing.start();
  }

  #toEngine(bytes: Buffer): void {
    if (bytes.length >= IN_BATCH_BYTES) {
      this.#flushIn();
      this.#deliver(bytes);
      return;
    }
    if (this.#inBytes + bytes.length > IN_BATCH_BYTES) this.#flushIn();
    this.#inBatch.push(bytes);
    this.#inBytes += bytes.length;
    if (!this.#inScheduled) {
      this.#inScheduled = true;
      queueMicrotask(this.#flushIn);
    }
  }

  #deliver(bytes: Buffer): void {
    if (!this.push(bytes) && !this.#wsPaused) {
      this.#wsPaused = true;
      this.#ws?.pause();
    }
  }

  /** The upgrade failed before the WebSocket opened: the link reports `err`. */
  fail(err: VtxError): void {
    if (!this.destroyed) this.destroy(err);
  }

  #protocolError(err: VtxError, closeCode: number): void {
    const ws = this.#ws;
    this.#closing = true;
    // Tell the peer why (RFC 6455 §7.4.1), then let the link see the coded error.
    if (ws && ws.readyState === ws.OPEN) ws.close(closeCode, err.code.slice(0, 120));
    this.destroy(err);
  }

  override _read(): void {
    if (this.#wsPaused) {
      this.#wsPaused = false;
      this.#ws?.resume();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#writeChunks([chunk], callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    this.#writeChunks(
      chunks.map((c) => c.chunk),
      callback,
    );
  }

  #writeChunks(chunks: Buffer[], callback: (err?: Error | null) => void): void {
    const framing = this.#framing;
    const raw = this.#raw;
    if (framing === null || raw === null) {
      // Not open yet: keep the engine's first bytes (its greeting) for when
      // the upgrade is done, and acknowledge them, so that end() during the
      // upgrade is not stuck behind a pending write.
      this.#early.push(...chunks);
      callback();
      return;
    }
    raw.cork();
    try {
      for (const c of chunks) framing.fromEngine(c);
    } catch (err) {
      raw.uncork();
      callback(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    raw.uncork();
    if (this.#ws!.bufferedAmount < WRITE_HIGH_WATER) {
      callback();
      return;
    }
    const done = (): void => {
      raw.off("drain", done);
      raw.off("close", done);
      callback();
    };
    raw.on("drain", done);
    raw.on("close", done);
  }

  override _final(callback: (err?: Error | null) => void): void {
    const ws = this.#ws;
    this.#closing = true;
    if (ws && ws.readyState === ws.OPEN) ws.close(1000);
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const ws = this.#ws;
    this.#early = [];
    if (ws) {
      if (err || ws.readyState !== ws.OPEN) {
        if (ws.readyState !== ws.CLOSED) {
          // An orderly close in progress gets a short grace for the peer's close frame.
          if (!err && ws.readyState === ws.CLOSING) setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
          else ws.terminate();
        }
      } else {
        this.#closing = true;
        ws.close(1000);
        setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
      }
    } else if (this.#raw) {
      // Before the upgrade: let a 4xx answer already written reach the client, then cut.
      const raw = this.#raw;
      raw.end();
      setTimeout(() => raw.destroy(), CLOSE_GRACE_MS).unref();
    }
    callback(err);
  }

  /** Server side, before `open`: the TCP/TLS socket to drop if the link gives up during the upgrade. */
  setRaw(raw: Socket): void {
    this.#raw = raw;
  }
}

/** Maps a `ws` error to a coded one: receiver errors carry `WS_ERR_*` codes (RFC 6455 violations). */
export function wsError(err: Error & { code?: string }): VtxError {
  if (err instanceof VtxError) return err;
  const code = err.code;
  if (code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") {
    return new VtxError(ZWS_ERR.MESSAGE_TOO_LARGE, `peer sent a WebSocket message over the size limit: ${err.message}`, { cause: err });
  }
  if (code?.startsWith("WS_ERR_")) {
    return new VtxError(ZWS_ERR.BAD_WEBSOCKET_FRAME, `invalid WebSocket frame: ${err.message}`, { cause: err, detail: { wsCode: code } });
  }
  return new VtxError(code ?? "VTX_STREAM_ERROR", err.message, { cause: err });
}

