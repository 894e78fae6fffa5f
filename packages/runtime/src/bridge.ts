import { randomBytes } from "node:crypto";
import * as zmq from "zeromq";
import { closeAtExit } from "./exit-quiesce.js";
import { bridgePlan, createSocket, type BridgePlan, type SocketTypeName } from "./socket-types.js";
import { isEagain, readBursts } from "./zmq-fast.js";

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
  sendTimeout: number;
  receiveTimeout: number;
  readonly closed: boolean;
  disconnect(address: string): void;
  close(): void;
}

/** The routing id under which a ROUTER bridge knows the application socket. */
const APP_ID = Buffer.from("vtx-app");
const EMPTY_MESSAGE: Buffer[] = [];
const SUBSCRIBE = 1;
const CANCEL = 0;
/**
 * Wire→app messages queued in JS before the transport is paused: one
 * decoded stream chunk of small messages fits, big messages are bounded by
 * bytes. Resumed at half.
 */
const BACKLOG_MESSAGES = 4096;
const BACKLOG_BYTES = 4 * 1024 * 1024;
/**
 * How long {@link Bridge.seal} waits for the pump to take what the app's
 * pipe holds before it disconnects anyway (an app that keeps sending keeps
 * the pipe non-empty). More than PUMP_WAKE_MS, so a lost wake-up is recovered.
 */
const SEAL_MS = 3000;
/**
 * An idle pump wakes this often (see readBursts' blockMs): cheap, and it
 * bounds how long a wake-up consumed by a `readable` query can delay it.
 */
const PUMP_WAKE_MS = 1000;


/**
 * One bridge: a raw zeromq.js socket in the driver's thread joined over
 * inproc to the application's socket, carrying exactly the frames that
 * travel on the wire (see docs/architecture.md for the table).
 */
export class Bridge {
  readonly plan: BridgePlan;
  readonly appType: SocketTypeName;
  readonly appInproc: string;
  readonly #socket: BridgeSocket;
  #sink: BridgeSink | null = null;
  #sinkWaiter: (() => void) | null = null;
  #closed = false;
  /** Connected to the app socket (see Bridge.open's connectAfter). */
  #connected = false;
  /** Set by {@link seal}: the pump no longer waits for a congested sink. */
  #sealing = false;
  /** Disconnected from the app socket: nothing more comes from it or goes to it. */
  #sealed = false;
  /** Wakes a pump waiting for a congested sink when sealing starts. */
  #sealWake: (() => void) | null = null;
  /** What the app (SUB/XSUB) is subscribed to, for replay on a new link. */
  readonly #subscriptions = new Map<string, Buffer>();
  /** True while the pump holds a message it has not handed to a sink yet. */
  #holding = false;
  /** True while the pump waits for the first message of a burst (what the app queued before has been taken). */
  #blocked = false;
  // Wire→app delivery: one zeromq.js send at a time (a second throws EBUSY).
  #sending = false;
  #backlog: Buffer[][] = [];
  #backlogHead = 0;
  #backlogBytes = 0;
  #drainWaiters: Array<() => void> = [];
  /** The message being sent, kept for a blocking retry when the pipe was full. */
  #inFlight: Buffer[] = EMPTY_MESSAGE;
  readonly #onSent = (): void => this.#sendNext();
  readonly #onSendError = (err: unknown): void => {
    if (isEagain(err) && !this.#closed) {
      // The app's pipe is full (its HWM): wait for room, then go on with 0-timeout sends.
      const socket = this.#socket;
      try {
        socket.sendTimeout = -1;
        socket.send(this.#inFlight).then(this.#onSentAfterWait, this.#onSendError);
        return;
      } catch {
        // Closed meanwhile: fall through and drop.
      }
    }
    // Socket closed while sending: the link is going away, drop the backlog.
    this.#sending = false;
    this.#backlog = [];
    this.#backlogHead = 0;
    this.#backlogBytes = 0;
    this.#wakeDrain();
  };

  readonly #onSentAfterWait = (): void => {
    try {
      this.#socket.sendTimeout = 0;
    } catch {
      // Closed: #sendNext sees it.
    }
    this.#sendNext();
  };

  private constructor(appType: SocketTypeName, appInproc: string, plan: BridgePlan, socket: BridgeSocket) {
    this.appType = appType;
    this.appInproc = appInproc;
    this.plan = plan;
    this.#socket = socket;
  }

  /**
   * Opens a bridge for an application socket of type `appType` bound at
   * `appInproc`. `routingId` names the remote peer to an app ROUTER/REP
   * (DEALER bridges). `after`: deliveries to the app wait for it (see
   * closeReleased); `connectAfter`: the bridge connects only once it settles.
   *
   * The bridge connects and the app socket only binds: in zeromq.js 6.8 a
   * `receive()` pending on a socket when that socket calls `connect()` to an
   * inproc endpoint was seen never to resolve, and an app-side connect
   * would have to happen on the app thread anyway. An XPUB bridge that
   * connects to a bound SUB does receive the SUB's subscriptions (checked
   * with libzmq 4.3.5 over inproc, subscribing before and after connect).
   */
  static open(
    appType: SocketTypeName,
    appInproc: string,
    opts: { routingId?: Buffer | undefined; after?: Promise<unknown> | undefined; connectAfter?: Promise<unknown> | undefined } = {},
  ): Bridge {
    const plan = bridgePlan(appType);
    const socket = createSocket(plan.bridgeType, { linger: 0 });
    closeAtExit(socket);
    // HWM 1 on the bridge's side: over inproc libzmq sizes a pipe as the
    // sum of both ends' HWMs, so the app socket's own SNDHWM/RCVHWM then
    // bounds each hop as it bounds a tcp:// peer's pipe (libzmq's default
    // 1000 here let ~2000 messages pile up past an app HWM of 10). Set one
    // by one: zeromq.js sockets are sealed, and a PULL has no send side.
    const hwm = socket as unknown as Record<string, unknown>;
    if ("sendHighWaterMark" in socket) hwm.sendHighWaterMark = 1;
    if ("receiveHighWaterMark" in socket) hwm.receiveHighWaterMark = 1;
    // 0-timeout sends (see zmq-fast.ts); PULL has no send side.
    if ("sendTimeout" in socket) hwm.sendTimeout = 0;
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
    } else if (opts.connectAfter === undefined) {
      socket.connect(appInproc);
    }
    const bridge = new Bridge(appType, appInproc, plan, socket as unknown as BridgeSocket);
    // A PUSH bridge (PULL app) has nothing to read: libzmq refuses receives
    // on it, and a receive left pending on it must not share its poller with
    // the sends that matter.
    const pump = (): void => {
      if (plan.bridgeType !== "PUSH" && !bridge.#closed) void bridge.#pump();
    };
    if (opts.connectAfter === undefined) {
      bridge.#connected = true;
      pump();
      if (opts.after !== undefined) bridge.#holdDeliveries(opts.after);
      return bridge;
    }
    // An app ROUTER (or REP) refuses a second pipe with a routing id it
    // already has, and a PAIR a second pipe, for good over inproc: a peer
    // that comes back must not connect while its previous link's bridge
    // still holds the app's pipe. Nothing is sent or received on the socket
    // until it has connected (zeromq.js was seen never to complete an
    // operation that was pending when its socket connected over inproc).
    const connect = (): void => {
      if (bridge.#closed || bridge.#sealing) return;
      socket.connect(appInproc);
      bridge.#connected = true;
      pump();
    };
    const connected = opts.connectAfter.then(connect, connect);
    bridge.#holdDeliveries(opts.after === undefined ? connected : Promise.allSettled([opts.after, connected]));
    return bridge;
  }

  /**
   * Wire→app messages wait (in the backlog, with its backpressure) until
   * `after` settles: bridges that a dead driver left behind may still hold
   * messages the app has not read, and libzmq fair-queues an app socket's
   * pipes, so anything this bridge delivered meanwhile would be read
   * interleaved with those older messages. App→wire is not held: an app
   * that sends but never reads must not be kept from its new peer.
   */
  #holdDeliveries(after: Promise<unknown>): void {
    this.#sending = true;
    const go = (): void => {
      if (!this.#closed) this.#sendNext();
    };
    after.then(go, go);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Starts (or resumes) forwarding app→wire messages to `sink`. */
  attach(sink: BridgeSink): void {
    this.#sink = sink;
    // A connect-side bridge outlives its links, and the app SUB told it its
    // subscriptions only once: a new link (reconnect) must hear them again,
    // as libzmq resends a SUB's subscriptions on reconnect.
    for (const topic of this.#subscriptions.values()) sink.subscribe(topic);
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
    // Sealed: as after zmq_disconnect, what arrives from the peer is discarded.
    if (this.#closed || this.#sealed) return true;
    if (this.plan.bridgeType === "ROUTER") frames.unshift(APP_ID);
    if (this.#sending) {
      this.#backlog.push(frames);
      let n = 0;
      for (const f of frames) n += f.length;
      this.#backlogBytes += n;
      return !this.#backlogFull(1);
    }
    this.#sending = true;
    this.#inFlight = frames;
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

  /**
   * Nothing from the app is waiting to go out on the wire (for linger).
   * The pump must be waiting and the pipe empty; the `readable` query is
   * made only then (see readBursts' blockMs for why it is not free).
   */
  get outboundIdle(): boolean {
    if (this.#closed || (this.#sealed && !this.#holding) || this.plan.bridgeType === "PUSH") return true;
    return !this.#holding && this.#blocked && !this.#socket.readable;
  }

  /** Resolves when the wire→app backlog is below its bound again. */
  drained(): Promise<void> {
    if (!this.#backlogFull(2) || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #sendNext(): void {
    const next = this.#backlog[this.#backlogHead];
    if (next === undefined || this.#closed) {
      this.#sending = false;
      this.#inFlight = EMPTY_MESSAGE;
      this.#backlog = [];
      this.#backlogHead = 0;
      this.#backlogBytes = 0;
      this.#wakeDrain();
      return;
    }
    this.#backlog[this.#backlogHead++] = EMPTY_MESSAGE;
    for (const f of next) this.#backlogBytes -= f.length;
    if (this.#backlogHead > 1024 && this.#backlogHead * 2 > this.#backlog.length) {
      this.#backlog = this.#backlog.slice(this.#backlogHead);
      this.#backlogHead = 0;
    }
    if (!this.#backlogFull(2)) this.#wakeDrain();
    this.#inFlight = next;
    this.#socket.send(next).then(this.#onSent, this.#onSendError);
  }

  /** Backlog over its bound (divisor 1) or over half of it (divisor 2). */
  #backlogFull(divisor: number): boolean {
    return (
      this.#backlog.length - this.#backlogHead >= BACKLOG_MESSAGES / divisor || this.#backlogBytes >= BACKLOG_BYTES / divisor
    );
  }

  #wakeDrain(): void {
    if (this.#drainWaiters.length === 0) return;
    const ws = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of ws) w();
  }

  /**
   * App→wire: reads the bridge socket in bursts (see zmq-fast.ts: no
   * ZMQ_EVENTS query per message) and flushes the sink at the end of each.
   */
  async #pump(): Promise<void> {
    try {
      await readBursts(this.#socket, {
        message: (frames) => {
          this.#blocked = false;
          return this.#forward(frames);
        },
        idle: () => this.#sink?.flush(),
        stopped: () => this.#closed,
        blocked: () => {
          this.#blocked = true;
        },
        blockMs: PUMP_WAKE_MS,
      });
    } catch {
      // receive() rejects once the socket is closed: the bridge is done.
    }
  }

  /**
   * Hands one app→wire message to the sink. Synchronous on the common path;
   * returns a promise when it must wait (no sink attached, or the sink is
   * congested).
   */
  #forward(frames: Buffer[]): Promise<void> | undefined {
    const sink = this.#sink;
    if (sink === null) return this.#forwardLater(frames);
    this.#holding = true;
    if (this.plan.bridgeType === "XPUB") {
      // Only subscription messages come up a SUB app's XPUB bridge.
      const m = frames[0];
      if (m !== undefined && m.length > 0) {
        const topic = m.subarray(1);
        if (m[0] === SUBSCRIBE) {
          this.#subscriptions.set(topic.toString("latin1"), Buffer.from(topic));
          sink.subscribe(topic);
        } else if (m[0] === CANCEL) {
          // The XPUB passes a cancel only once the app holds no subscription to it.
          this.#subscriptions.delete(topic.toString("latin1"));
          sink.cancel(topic);
        }
      }
    } else if (!sink.message(this.plan.bridgeType === "ROUTER" ? frames.slice(1) : frames) && !this.#sealing) {
      sink.flush();
      // Sealing ends the wait: what the pipe still holds is taken at once (see seal).
      const sealed = new Promise<void>((resolve) => (this.#sealWake = resolve));
      return Promise.race([sink.drained(), sealed]).then(() => {
        this.#sealWake = null;
        this.#holding = false;
      });
    }
    this.#holding = false;
    return undefined;
  }

  async #forwardLater(frames: Buffer[]): Promise<void> {
    this.#holding = true;
    while (this.#sink === null) {
      await new Promise<void>((resolve) => (this.#sinkWaiter = resolve));
      if (this.#closed) throw new Error("bridge closed");
    }
    const wait = this.#forward(frames);
    if (wait !== undefined) await wait;
  }

  /**
   * Stops taking messages from the application, as zmq_disconnect does for
   * a native pipe: reads what the app's pipe holds now and hands it to the
   * sink (its link lingers it out; congestion no longer holds the pump
   * back, so at most the app's HWM more is buffered), then disconnects from
   * the app socket. libzmq sends the app socket the pipe's end at once, and
   * the app socket stops routing to this bridge as soon as it processes its
   * commands (any send, receive or event query does). Messages from the
   * peer are discarded from then on. The bridge stays open (its link still
   * lingers) until closed. Without a sink (no link up) it disconnects at
   * once: what the pipe holds is dropped, as it would be at close.
   */
  async seal(): Promise<void> {
    if (this.#closed || this.#sealing) return;
    this.#sealing = true;
    const wake = this.#sealWake;
    this.#sealWake = null;
    wake?.();
    // A PUSH bridge (PULL app) reads nothing; a bridge still waiting to
    // connect has nothing queued.
    const deadline = performance.now() + SEAL_MS;
    for (let turn = 0; this.plan.bridgeType !== "PUSH" && this.#connected && this.#sink !== null && !this.#closed && performance.now() < deadline; turn++) {
      // A turn of the event loop first: the pump takes what its poller
      // reported meanwhile. Then a short sleep, not a spin, while it works.
      await new Promise<void>((resolve) => (turn < 8 ? setImmediate(resolve) : setTimeout(resolve, 2)));
      if (this.outboundIdle) break;
    }
    if (this.#closed) return;
    this.#sealed = true;
    this.#sink?.flush();
    try {
      this.#socket.disconnect(this.appInproc);
    } catch {
      // Never connected (waiting to connect) or closed: nothing to stop.
    }
  }

  /**
   * Closes the bridge; resolves once the application socket has let go of
   * it, having read everything the bridge had handed it (for a PUSH app, at
   * once; otherwise the app socket must at least process its commands, as
   * any send, receive or event query does). libzmq keeps a closed
   * socket until the peer acknowledges the end of each pipe, and a reading
   * peer does that only when it reaches the end marker, behind the messages
   * still queued; the socket's monitor reports the end ("end" event).
   */
  closeReleased(): Promise<void> {
    // A PULL bridge (PUSH app) hands the app nothing.
    if (this.#closed || this.plan.bridgeType === "PULL") {
      this.close();
      return Promise.resolve();
    }
    let observer: zmq.Observer;
    try {
      observer = new zmq.Observer(this.#socket as unknown as zmq.Socket);
      closeAtExit(observer);
    } catch {
      this.close();
      return Promise.resolve();
    }
    this.close();
    return (async () => {
      try {
        while (!observer.closed) {
          const event = await observer.receive();
          if (event.type === "end") return;
        }
      } catch {
        // The observer closed: nothing more will be reported.
      } finally {
        observer.close();
      }
    })();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sink = null;
    this.#backlog = [];
    this.#backlogHead = 0;
    this.#backlogBytes = 0;
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
