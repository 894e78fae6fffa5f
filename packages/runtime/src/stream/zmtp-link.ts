import * as net from "node:net";
import type { Duplex } from "node:stream";
import type { Bridge, BridgeSink } from "../bridge.js";
import type { EndpointRequest, LinkOptions } from "../control.js";
import type { DriverContext } from "../driver.js";
import { VtxError } from "../errors.js";
import { readIntoSlabs, VIEW_MIN_BYTES } from "./slab-reader.js";
import { SilenceWatch } from "./silence-watch.js";
import { endStream, GatherWriter, streamError } from "./stream-io.js";
import { ZmtpEngine, type ZmtpPeer } from "../zmtp/engine.js";
import { createMechanism, loadCurve, type MechanismOption } from "../zmtp/mechanism-option.js";

/**
 * The CURVE mechanism a link's options ask for, if any: a server when
 * `curveServer` is set, a client when `curveServerKey` is. Throws
 * `ZMTP_INVALID_OPTION` on keys that are not keys, so bind/connect can
 * refuse them up front (see {@link checkLinkMechanism}).
 */
export function curveMechanismOption(o: LinkOptions): MechanismOption | undefined {
  if (o.curveServer === true) {
    if (o.curveSecretKey === undefined) throw new VtxError("ZMTP_INVALID_OPTION", "curveServer needs curveSecretKey");
    const allow = o.curveAllow === undefined ? undefined : new Set(o.curveAllow);
    return {
      type: "CURVE",
      server: true,
      secretKey: o.curveSecretKey,
      publicKey: o.curvePublicKey,
      authorize: allow === undefined ? undefined : ({ publicKey }) => allow.has(publicKey),
    };
  }
  if (o.curveServerKey !== undefined) {
    return { type: "CURVE", serverKey: o.curveServerKey, publicKey: o.curvePublicKey, secretKey: o.curveSecretKey };
  }
  return undefined;
}

/**
 * Validates the mechanism options of a bind/connect (keys parse, pairs
 * match), loading CURVE support if they ask for it: throws `ZMTP_INVALID_OPTION`.
 */
export async function checkLinkMechanism(o: LinkOptions): Promise<void> {
  const curve = curveMechanismOption(o);
  if (curve === undefined) return;
  await loadCurve();
  try {
    createMechanism(curve);
  } catch (err) {
    throw new VtxError("ZMTP_INVALID_OPTION", `invalid CURVE options: ${(err as Error).message}`, { cause: err });
  }
}

/** Bytes of encoded outgoing messages the engine batches before a write is forced. */
const BATCH_BYTES = 64 * 1024;
/** Outgoing bytes buffered in the stream before the bridge stops reading. */
const WRITE_HIGH_WATER = 1024 * 1024;

export interface ZmtpLinkEvents {
  /** Handshake done and the bridge attached: messages flow. */
  ready(peer: ZmtpPeer): void;
  /** The link is over (error undefined: orderly close by either side). */
  closed(error: VtxError | undefined): void;
}

/**
 * One ZMTP connection over a byte stream: the engine, the stream, the
 * heartbeat timer and the bridge it feeds. Owned by a session actor, which
 * decides what happens when it closes (reconnect, or nothing).
 *
 * The per-message path lives here and is plain code: stream chunk → engine
 * → bridge.deliver, and bridge → engine.sendMessage → batched write.
 */
export class ZmtpLink implements BridgeSink {
  readonly peerAddress: string;
  readonly #duplex: Duplex;
  readonly #engine: ZmtpEngine;
  readonly #ctx: DriverContext;
  readonly #req: EndpointRequest;
  readonly #events: ZmtpLinkEvents;
  readonly #getBridge: (peer: ZmtpPeer) => Bridge;
  #bridge: Bridge | null = null;
  #paused = false;
  readonly #out: GatherWriter;
  #closed = false;
  #lastRx = Date.now();
  #handshakeTimer: NodeJS.Timeout | null = null;
  #heartbeatTimer: NodeJS.Timeout | null = null;
  readonly #untrack: () => void;

  constructor(args: {
    duplex: Duplex;
    peerAddress: string;
    ctx: DriverContext;
    req: EndpointRequest;
    asServer: boolean;
    /** Gives the bridge once the peer is known (bind side opens one; connect side reuses its own). */
    bridge: (peer: ZmtpPeer) => Bridge;
    events: ZmtpLinkEvents;
  }) {
    this.#duplex = args.duplex;
    this.#out = new GatherWriter(args.duplex);
    this.peerAddress = args.peerAddress;
    this.#ctx = args.ctx;
    this.#req = args.req;
    this.#events = args.events;
    this.#getBridge = args.bridge;
    const o = args.req.options;
    const d = this.#duplex;
    const onChunk = (chunk: Buffer): void => {
      this.#lastRx = Date.now();
      this.#engine.push(chunk);
    };
    // Plain TCP reads straight into slabs (fewer allocations, big frames as
    // views); anything else, or anything already buffered, comes as 'data'.
    const slabs =
      d instanceof net.Socket &&
      readIntoSlabs(d, (chunk) => (onChunk(chunk), true), undefined, (slab) => this.#engine.carryPartialFrame(slab));
    this.#engine = new ZmtpEngine(
      {
        socketType: args.req.socketType,
        ...(o.identity !== undefined ? { identity: Buffer.from(o.identity, "latin1") } : {}),
        mechanism: this.#mechanism(o, args.asServer),
        ...(o.maxMessageSize >= 0 ? { maxMessageSize: o.maxMessageSize } : {}),
        peerAddress: args.peerAddress,
        // The engine encodes app→wire messages straight into one batch
        // buffer; the bridge calls flush() when it has nothing more queued.
        batchSize: BATCH_BYTES,
        // Slab views: a small message the app keeps must not pin a slab.
        copyBelow: slabs ? VIEW_MIN_BYTES : 0,
      },
      {
        // Big messages are gathered into one writev until the bridge flushes.
        send: (bytes) => this.#out.write(bytes),
        sendv: (chunks) => this.#out.writev(chunks),
        ready: (peer) => this.#onReady(peer),
        message: (frames) => this.#onMessage(frames),
        subscribe: (topic) => this.#onSubscription(true, topic),
        cancel: (topic) => this.#onSubscription(false, topic),
        error: (err) => this.close(err),
      },
    );
    this.#untrack = args.ctx.track(this);
    d.on("data", onChunk);
    d.on("error", (err: Error & { code?: string }) =>
      this.close(streamError(err)),
    );
    // EOF inside the greeting, the handshake or a multipart message is
    // ZMTP_TRUNCATED (engine.end() reports it through `error`); between
    // messages it is an orderly close.
    d.on("end", () => {
      if (!this.#closed) this.#engine.end();
      this.close(undefined);
    });
    d.on("close", () => this.close(undefined));
    if (o.handshakeTimeout > 0) {
      this.#handshakeTimer = setTimeout(
        () => this.close(new VtxError("ZMTP_HANDSHAKE_TIMEOUT", `handshake not finished within ${o.handshakeTimeout} ms`)),
        o.handshakeTimeout,
      );
    }
    this.#engine.start();
  }

  #mechanism(o: LinkOptions, asServer: boolean): MechanismOption {
    const curve = curveMechanismOption(o);
    if (curve !== undefined) return curve;
    if (asServer && o.plainServer) {
      return {
        type: "PLAIN",
        authenticate: ({ username, password }) =>
          this.#ctx.authenticate(this.#req, {
            mechanism: "PLAIN",
            username,
            password,
            peer: this.peerAddress,
          }),
      };
    }
    if (o.plainUsername !== undefined) return { type: "PLAIN", username: o.plainUsername, password: o.plainPassword ?? "" };
    return "NULL";
  }

  get closed(): boolean {
    return this.#closed;
  }

  #onReady(peer: ZmtpPeer): void {
    if (this.#handshakeTimer) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = null;
    let bridge: Bridge;
    try {
      bridge = this.#getBridge(peer);
    } catch (err) {
      this.close(err instanceof VtxError ? err : new VtxError("VTX_BRIDGE", String(err)));
      return;
    }
    if (this.#closed) return;
    this.#bridge = bridge;
    bridge.attach(this);
    this.#startHeartbeats();
    this.#events.ready(peer);
  }

  #startHeartbeats(): void {
    const o = this.#req.options;
    if (o.heartbeatInterval <= 0) return;
    const watch = new SilenceWatch(o.heartbeatInterval, o.heartbeatTimeout, Date.now());
    this.#heartbeatTimer = setInterval(() => {
      if (watch.tick(Date.now(), this.#lastRx)) {
        this.close(new VtxError("ZMTP_HEARTBEAT_TIMEOUT", `peer silent for more than ${o.heartbeatTimeout} ms`));
        return;
      }
      try {
        this.#engine.sendPing(o.heartbeatTtl);
        this.flush();
      } catch {
        // Engine closed between ticks; close() follows.
      }
    }, o.heartbeatInterval);
  }

  #onMessage(frames: Buffer[]): void {
    const bridge = this.#bridge;
    if (bridge === null) return; // ready() failed to get a bridge: closing
    if (!bridge.deliver(frames) && !this.#paused) {
      this.#paused = true;
      this.#duplex.pause();
      void bridge.drained().then(() => {
        this.#paused = false;
        if (!this.#closed) this.#duplex.resume();
      });
    }
  }

  #onSubscription(subscribe: boolean, topic: Buffer): void {
    // The topic may alias a pushed chunk; keep our own copy.
    const t = Buffer.from(topic);
    const bridge = this.#bridge;
    if (bridge === null) return;
    if (subscribe) bridge.deliverSubscribe(t);
    else bridge.deliverCancel(t);
  }

  // ---- BridgeSink: app → wire ------------------------------------------------

  message(frames: Buffer[]): boolean {
    if (this.#closed) return true;
    try {
      this.#engine.sendMessage(frames);
    } catch (err) {
      this.close(err instanceof VtxError ? err : new VtxError("VTX_INTERNAL", String(err)));
      return true;
    }
    return this.#duplex.writableLength < WRITE_HIGH_WATER;
  }

  subscribe(topic: Buffer): void {
    if (this.#closed) return;
    this.#engine.sendSubscribe(topic);
    this.flush();
  }

  cancel(topic: Buffer): void {
    if (this.#closed) return;
    this.#engine.sendCancel(topic);
    this.flush();
  }

  flush(): void {
    if (this.#closed) return;
    this.#engine.flush();
    this.#out.flush();
  }

  drained(): Promise<void> {
    if (this.#closed || this.#duplex.writableLength < WRITE_HIGH_WATER) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.#duplex.off("drain", done);
        this.#duplex.off("close", done);
        resolve();
      };
      this.#duplex.on("drain", done);
      this.#duplex.on("close", done);
    });
  }

  // ---------------------------------------------------------------------------

  /**
   * Linger: resolves once everything the app queued has been written out
   * (bridge idle, stream drained) or after `ms` (-1: no limit but `signal`).
   */
  async drain(ms: number, signal: AbortSignal): Promise<void> {
    const bridge = this.#bridge;
    if (bridge === null || this.#closed || ms === 0) return;
    const deadline = ms < 0 ? Number.POSITIVE_INFINITY : Date.now() + ms;
    while (!this.#closed && !signal.aborted && Date.now() < deadline) {
      if (bridge.outboundIdle && this.#duplex.writableLength === 0) return;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Sends a ZMTP ERROR to the peer (best effort) and closes. */
  refuse(err: VtxError): void {
    try {
      this.#engine.sendError(err.message.slice(0, 255));
    } catch {
      // Not in a state to send ERROR: just close.
    }
    this.close(err);
  }

  close(error?: VtxError): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.#untrack();
    if (this.#handshakeTimer) clearTimeout(this.#handshakeTimer);
    if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
    this.#bridge?.detach(this);
    this.#engine.close();
    // Ended, not destroyed: an ERROR command the engine just wrote (auth
    // failure, incompatible socket type) must reach the peer.
    endStream(this.#duplex);
    this.#events.closed(error);
  }
}
