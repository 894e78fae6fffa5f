import { randomBytes } from "node:crypto";
import * as zmq from "zeromq";
import { bridgePlan, createSocket, type BridgePlan, type SocketTypeName } from "./socket-types.js";

/**
 * Where a bridge sends what the application wrote for the wire. Implemented
 * by a session (one per live link). `message` returns false when the
 * transport is congested; the bridge then awaits `drained()` before reading
 * on, so backpressure reaches the application socket through libzmq's HWM.
 */
export interface BridgeSink {
  message(frames: Buffer[]): boolean;
  subscribe(topic: Buffer): void;
  cancel(topic: Buffer): void;
  /** Called when the bridge has nothing more queued right now: write out any batch. */
  flush(): void;
  drained(): Promise<void>;
}

/** What the bridge uses of a zeromq.js socket (every bridge type has both directions). */
interface BridgeSocket {
  send(frames: Buffer[]): Promise<void>;
  receive(): Promise<Buffer[]>;
  readonly readable: boolean;
  close(): void;
}

/** The routing id under which a ROUTER bridge knows the application socket. */
const APP_ID = Buffer.from("vtx-app");
const SUBSCRIBE = 1;
const CANCEL = 0;
/** Wire→app messages queued in JS before the transport is paused. */
const DELIVERY_BACKLOG = 256;

let bridgeCounter = 0;

/**
 * One bridge: a raw zeromq.js socket in the driver's thread joined over
 * inproc to the application's socket, carrying exactly the frames that
 * travel on the wire (see docs/architecture.md for the table).
 */
export class Bridge {
  /** A name for logs: the app's inproc endpoint and the bridge's number. */
  readonly inproc: string;
  readonly plan: BridgePlan;
  readonly appType: SocketTypeName;
  readonly #socket: BridgeSocket;
  #sink: BridgeSink | null = null;
  #sinkWaiter: (() => void) | null = null;
  #closed = false;
  /** True while the pump holds a message it has not handed to a sink yet. */
  #holding = false;
  // Wire→app delivery: one zeromq.js send at a time (a second throws EBUSY).
  #sending = false;
  #backlog: Buffer[][] = [];
  #drainWaiters: Array<() => void> = [];
  readonly #onSent = (): void => this.#sendNext();
  readonly #onSendError = (): void => {
    // Socket closed while sending: the link is going away, drop the backlog.
    this.#sending = false;
    this.#backlog = [];
    this.#wakeDrain();
  };

  private constructor(appType: SocketTypeName, plan: BridgePlan, socket: BridgeSocket, inproc: string) {
    this.appType = appType;
    this.plan = plan;
    this.#socket = socket;
    this.inproc = inproc;
  }

  /**
   * Opens a bridge for an application socket of type `appType` bound at
   * `appInproc`. `routingId` names the remote peer to an app ROUTER/REP
   * (DEALER bridges).
   *
   * The bridge connects and the app socket only binds: in zeromq.js 6.8 a
   * `receive()` pending on a socket when that socket calls `connect()` to an
   * inproc endpoint was seen never to resolve, and an app-side connect
   * would have to happen on the app thread anyway. An XPUB bridge that
   * connects to a bound SUB does receive the SUB's subscriptions (checked
   * with libzmq 4.3.5 over inproc, subscribing before and after connect).
   */
  static open(appType: SocketTypeName, appInproc: string, opts: { routingId?: Buffer | undefined } = {}): Bridge {
    const plan = bridgePlan(appType);
    const socket = createSocket(plan.bridgeType, { linger: 0 });
    const inproc = `${appInproc}#${++bridgeCounter}`;
    switch (plan.bridgeType) {
      case "DEALER":
        (socket as zmq.Dealer).routingId = (opts.routingId ?? randomRoutingId()).toString("latin1");
        break;
      case "ROUTER":
        (socket as zmq.Router).mandatory = true;
        break;
      case "XPUB":
        // Every subscribe and cancel from the app must reach the remote PUB.
        (socket as zmq.XPublisher).verbosity = "allSubs";
        break;
      default:
        break;
    }
    if (plan.bridgeType === "ROUTER") {
      // ZMQ_CONNECT_ROUTING_ID: the bridge knows the app's routing id before
      // the app sends anything (ZMQ_ROUTER_NOTIFY does not fire over inproc).
      (socket as zmq.Router).connect(appInproc, { routingId: APP_ID.toString("latin1") });
    } else {
      socket.connect(appInproc);
    }
    const bridge = new Bridge(appType, plan, socket as unknown as BridgeSocket, inproc);
    void bridge.#pump();
    return bridge;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Starts (or resumes) forwarding app→wire messages to `sink`. */
  attach(sink: BridgeSink): void {
    this.#sink = sink;
    const w = this.#sinkWaiter;
    this.#sinkWaiter = null;
    w?.();
  }

  /** Stops forwarding; messages queue in libzmq (up to the HWM) until the next attach. */
  detach(sink?: BridgeSink): void {
    if (sink === undefined || this.#sink === sink) this.#sink = null;
  }

  /** Delivers a message from the wire to the application. Returns false when
   *  the caller should pause reading until {@link drained} resolves. */
  deliver(frames: Buffer[]): boolean {
    if (this.#closed) return true;
    if (this.plan.bridgeType === "ROUTER") frames.unshift(APP_ID);
    if (this.#sending) {
      this.#backlog.push(frames);
      return this.#backlog.length < DELIVERY_BACKLOG;
    }
    this.#sending = true;
    this.#socket.send(frames).then(this.#onSent, this.#onSendError);
    return true;
  }

  /** A remote subscriber subscribed (PUB/XPUB apps: forwarded upstream). */
  deliverSubscribe(topic: Buffer): void {
    this.#deliverSubscription(SUBSCRIBE, topic);
  }

  deliverCancel(topic: Buffer): void {
    this.#deliverSubscription(CANCEL, topic);
  }

  #deliverSubscription(kind: number, topic: Buffer): void {
    if (this.plan.bridgeType !== "XSUB") return;
    const msg = Buffer.allocUnsafe(topic.length + 1);
    msg[0] = kind;
    topic.copy(msg, 1);
    this.deliver([msg]);
  }

  /** Nothing from the app is waiting to go out on the wire (for linger). */
  get outboundIdle(): boolean {
    return this.#closed || (!this.#holding && !this.#socket.readable);
  }

  /** Resolves when the wire→app backlog is below its bound again. */
  drained(): Promise<void> {
    if (this.#backlog.length < DELIVERY_BACKLOG / 2 || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #sendNext(): void {
    const next = this.#backlog.shift();
    if (next === undefined || this.#closed) {
      this.#sending = false;
      this.#wakeDrain();
      return;
    }
    if (this.#backlog.length < DELIVERY_BACKLOG / 2) this.#wakeDrain();
    this.#socket.send(next).then(this.#onSent, this.#onSendError);
  }

  #wakeDrain(): void {
    if (this.#drainWaiters.length === 0) return;
    const ws = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of ws) w();
  }

  async #pump(): Promise<void> {
    const socket = this.#socket;
    const type = this.plan.bridgeType;
    try {
      for (;;) {
        let frames = await socket.receive();
        this.#holding = true;
        let sink = this.#sink;
        while (sink === null) {
          await new Promise<void>((resolve) => (this.#sinkWaiter = resolve));
          if (this.#closed) return;
          sink = this.#sink;
        }
        if (type === "XPUB") {
          // Only subscription messages come up a SUB app's XPUB bridge.
          const m = frames[0];
          if (m !== undefined && m.length > 0) {
            if (m[0] === SUBSCRIBE) sink.subscribe(m.subarray(1));
            else if (m[0] === CANCEL) sink.cancel(m.subarray(1));
          }
        } else {
          if (type === "ROUTER") frames = frames.slice(1);
          if (!sink.message(frames)) {
            sink.flush();
            await sink.drained();
          }
        }
        this.#holding = false;
        if (!socket.readable) sink.flush();
      }
    } catch {
      // receive() rejects once the socket is closed: the bridge is done.
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sink = null;
    this.#backlog = [];
    this.#wakeDrain();
    const w = this.#sinkWaiter;
    this.#sinkWaiter = null;
    w?.();
    this.#socket.close();
  }
}

/** libzmq's generated routing id: a zero byte then a random 32-bit number. */
export function randomRoutingId(): Buffer {
  const b = randomBytes(5);
  b[0] = 0;
  return b;
}
