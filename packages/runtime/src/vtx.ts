import { randomBytes } from "node:crypto";
import type { EndpointRequest, HostEvent, LinkOptions, VtxEventType } from "./control.js";
import type { DriverSpec } from "./driver.js";
import { driverPool } from "./driver-pool.js";
import { DriverRunner, type RunnerHost } from "./driver-runner.js";
import { parseEndpoint, schemeOf, SCHEME_UNKNOWN } from "./endpoint.js";
import { toWireError, VtxError, type WireError } from "./errors.js";
import {
  createSocket,
  isSocketTypeName,
  socketTypeOf,
  type AnySocket,
  type SocketClassMap,
  type SocketTypeName,
} from "./socket-types.js";

/** Schemes libzmq handles itself; they bypass vtx unless a driver is registered for them. */
const NATIVE_SCHEMES = new Set(["tcp", "ipc", "inproc", "tipc", "pgm", "epgm", "ws", "wss", "vmci", "udp"]);

export interface VtxOptions {
  /** Worker threads hosting drivers (default 1; several drivers share a worker). */
  poolSize?: number;
  /** Restarts allowed within `restartPeriod` ms before a driver is given up (default 5 in 10 000 ms). */
  restartIntensity?: number;
  restartPeriod?: number;
  /** How long an orderly driver stop may take before it is abandoned (ms, default 5000). */
  shutdownTimeout?: number;
  /** Defaults for every link (overridden by socket options and per-call options). */
  link?: Partial<LinkOptions>;
  /** Server-side PLAIN check, called on the application thread. */
  authenticate?: (creds: { username: string; password: string; endpoint: string; peer?: string | undefined }) => boolean | Promise<boolean>;
}

/** An event about a virtual endpoint, in the spirit of zeromq.js's `socket.events`. */
export interface VtxEvent {
  type: VtxEventType;
  scheme: string;
  /** The endpoint as given to bind/connect. */
  endpoint?: string | undefined;
  socket?: AnySocket | undefined;
  peer?: string | undefined;
  error?: WireError | undefined;
}

export const DEFAULT_LINK_OPTIONS: LinkOptions = {
  heartbeatInterval: 5000,
  heartbeatTimeout: 15_000,
  heartbeatTtl: 15_000,
  reconnectInterval: 100,
  reconnectIntervalMax: 5000,
  handshakeTimeout: 10_000,
  maxMessageSize: -1,
  linger: 0,
};

interface EndpointRecord {
  id: string;
  kind: "bind" | "connect";
  runner: DriverRunner;
  socket: SocketRecord;
  request: EndpointRequest;
  /** What the user asked for and what was actually bound (ephemeral port resolved). */
  given: string;
  resolved: string;
  applied: boolean;
  /** Key in the socket's endpoint map. */
  key: string;
}

interface SocketRecord {
  socket: AnySocket;
  type: SocketTypeName;
  /** The app socket's inproc bind that bridges connect to, made on first virtual endpoint. */
  appInproc: Promise<string> | undefined;
  endpoints: Map<string, EndpointRecord>;
  /** Options given to vtx.socket(): zeromq.js cannot read CURVE keys back from a socket (getters throw EINVAL). */
  options?: Readonly<Record<string, unknown>> | undefined;
}

let endpointCounter = 0;

/**
 * The vtx manager (`vtx_new`): registers drivers, creates sockets, and
 * routes bind/connect either to libzmq (native schemes) or to a driver.
 */
export class Vtx {
  readonly #opts: Required<Pick<VtxOptions, "poolSize" | "restartIntensity" | "restartPeriod" | "shutdownTimeout">> & VtxOptions;
  readonly #drivers = new Map<string, DriverRunner>();
  readonly #specs = new Map<string, DriverSpec>();
  readonly #sockets = new Map<AnySocket, SocketRecord>();
  readonly #endpoints = new Map<string, EndpointRecord>();
  readonly #listeners = new Set<(e: VtxEvent) => void>();
  /** Per scheme, the peers reported connected and not yet disconnected. */
  readonly #livePeers = new Map<string, Map<string, VtxEvent>>();
  #destroyed = false;

  constructor(options: VtxOptions = {}) {
    this.#opts = {
      poolSize: 1,
      restartIntensity: 5,
      restartPeriod: 10_000,
      shutdownTimeout: 5000,
      ...options,
    };
  }

  /** Registers a driver for `scheme` (`vtx_register`). */
  register(scheme: string, spec: DriverSpec): void {
    this.#assertLive();
    const s = scheme.toLowerCase();
    if (!/^[a-z][a-z0-9+.-]*$/.test(s)) throw new VtxError("VTX_SCHEME_INVALID", `"${scheme}" is not a valid scheme name`);
    if (this.#specs.has(s)) throw new VtxError("VTX_SCHEME_TAKEN", `a driver is already registered for "${s}"`);
    if (typeof spec?.module !== "string" || typeof spec.export !== "string") {
      throw new VtxError("VTX_DRIVER_SPEC", `driver for "${s}" must be a DriverSpec {module, export, options}`);
    }
    this.#specs.set(s, spec);
  }

  /** Creates a real zeromq.js socket of the given classic type (`vtx_socket`). */
  socket<T extends SocketTypeName>(type: T, options?: object): SocketClassMap[T] {
    this.#assertLive();
    if (!isSocketTypeName(type)) throw new VtxError("VTX_SOCKET_TYPE", `unknown socket type "${String(type)}"`);
    const socket = createSocket(type, options);
    this.#sockets.set(socket, { socket, type, appInproc: undefined, endpoints: new Map(), options: options as Record<string, unknown> | undefined });
    return socket;
  }

  /** Binds to a native or virtual endpoint (`vtx_bind`); resolves with the endpoint actually bound. */
  async bind(socket: AnySocket, endpoint: string, options?: Partial<LinkOptions>): Promise<string> {
    this.#assertLive();
    const runner = this.#runnerFor(endpoint);
    if (!runner) {
      await socket.bind(endpoint);
      return socket.lastEndpoint ?? endpoint;
    }
    const rec = await this.#record(socket, endpoint, "bind", runner, options);
    try {
      const r = await runner.bind(rec.request);
      rec.resolved = r.endpoint ?? endpoint;
      // Re-applied after a restart at the same (resolved) address, so peers find it again.
      rec.request = { ...rec.request, endpoint: parseEndpoint(rec.resolved) };
      rec.applied = true;
      return rec.resolved;
    } catch (err) {
      this.#forget(rec);
      throw err;
    }
  }

  /** Connects to a native or virtual endpoint (`vtx_connect`). */
  async connect(socket: AnySocket, endpoint: string, options?: Partial<LinkOptions>): Promise<void> {
    this.#assertLive();
    const runner = this.#runnerFor(endpoint);
    if (!runner) {
      socket.connect(endpoint);
      return;
    }
    const rec = await this.#record(socket, endpoint, "connect", runner, options);
    try {
      await runner.connect(rec.request);
      rec.applied = true;
    } catch (err) {
      this.#forget(rec);
      throw err;
    }
  }

  async unbind(socket: AnySocket, endpoint: string): Promise<void> {
    await this.#drop(socket, endpoint, "bind");
  }

  async disconnect(socket: AnySocket, endpoint: string): Promise<void> {
    await this.#drop(socket, endpoint, "connect");
  }

  /** Closes a socket and every virtual endpoint it had (`vtx_close`). */
  async close(socket: AnySocket): Promise<void> {
    const rec = this.#sockets.get(socket);
    // Close the app socket first: with ZMQ_LINGER libzmq still hands what it
    // had queued to the bridges, and the drivers keep each live link open
    // until that is on the wire or the linger time is up.
    socket.close();
    if (rec) {
      this.#sockets.delete(socket);
      for (const ep of [...rec.endpoints.values()]) {
        await this.#dropRecord(ep).catch(() => undefined);
      }
    }
  }

  /** Closes every socket and stops every driver (`vtx_destroy`). */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    for (const s of [...this.#sockets.keys()]) await this.close(s).catch(() => undefined);
    this.#destroyed = true;
    await Promise.all([...this.#drivers.values()].map((d) => d.stop().catch(() => undefined)));
    this.#drivers.clear();
    this.#listeners.clear();
  }

  /** Observes endpoint events; returns an unsubscribe function. */
  on(listener: (e: VtxEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Events as an async iterator (ends when `signal` aborts or the Vtx is destroyed). */
  async *events(signal?: AbortSignal): AsyncGenerator<VtxEvent> {
    const queue: VtxEvent[] = [];
    let wake: (() => void) | null = null;
    const off = this.on((e) => {
      queue.push(e);
      wake?.();
    });
    const onAbort = (): void => wake?.();
    signal?.addEventListener("abort", onAbort);
    try {
      while (!signal?.aborted && !this.#destroyed) {
        const e = queue.shift();
        if (e) {
          yield e;
          continue;
        }
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    } finally {
      off();
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Resolves with the first event matching `pred`, or rejects after `timeoutMs`. */
  waitFor(pred: (e: VtxEvent) => boolean, timeoutMs = 10_000): Promise<VtxEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new VtxError("VTX_TIMEOUT", `no matching vtx event within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on((e) => {
        if (!pred(e)) return;
        clearTimeout(timer);
        off();
        resolve(e);
      });
    });
  }

  /** The error that stopped a driver for good (restart intensity exceeded), if any. */
  driverFailure(scheme: string): VtxError | null {
    return this.#drivers.get(scheme.toLowerCase())?.failure ?? null;
  }

  /**
   * Fault injection for tests and chaos drills: makes the running driver of
   * `scheme` crash the way a buggy driver would (throw from a callback,
   * call `process.exit`, or leave a rejection unhandled).
   */
  crashDriver(scheme: string, how: "throw" | "exit" | "reject" = "throw"): void {
    this.#drivers.get(scheme.toLowerCase())?.crash(how);
  }

  // ---------------------------------------------------------------------------

  #assertLive(): void {
    if (this.#destroyed) throw new VtxError("VTX_DESTROYED", "this Vtx has been destroyed");
  }

  #runnerFor(endpoint: string): DriverRunner | null {
    const scheme = schemeOf(endpoint);
    const spec = this.#specs.get(scheme);
    if (!spec) {
      if (NATIVE_SCHEMES.has(scheme)) return null;
      throw new VtxError(SCHEME_UNKNOWN, `no driver registered for "${scheme}://" (and libzmq does not know it)`);
    }
    let runner = this.#drivers.get(scheme);
    if (!runner) {
      runner = new DriverRunner(scheme, spec, driverPool(this.#opts.poolSize), this.#runnerHost, {
        intensity: this.#opts.restartIntensity,
        period: this.#opts.restartPeriod,
        shutdownTimeout: this.#opts.shutdownTimeout,
      });
      this.#drivers.set(scheme, runner);
    }
    return runner;
  }

  async #record(
    socket: AnySocket,
    endpoint: string,
    kind: "bind" | "connect",
    runner: DriverRunner,
    options: Partial<LinkOptions> | undefined,
  ): Promise<EndpointRecord> {
    const parsed = parseEndpoint(endpoint);
    let srec = this.#sockets.get(socket);
    if (!srec) {
      // A socket created outside vtx.socket(): adopt it.
      srec = { socket, type: socketTypeOf(socket), appInproc: undefined, endpoints: new Map() };
      this.#sockets.set(socket, srec);
    }
    const id = `e${++endpointCounter}`;
    // Like libzmq's `tcp://host:*`, every bind to an ephemeral port is a new
    // endpoint (a second one gets its own port), so it never collides.
    const key = kind === "bind" && parsed.port === 0 ? `${kind} ${endpoint} ${id}` : `${kind} ${endpoint}`;
    if (srec.endpoints.has(key)) {
      throw new VtxError("VTX_ENDPOINT_IN_USE", `socket is already ${kind === "bind" ? "bound to" : "connected to"} ${endpoint}`);
    }
    if (srec.appInproc === undefined) {
      const inproc = `inproc://vtx-app-${process.pid}-${randomBytes(6).toString("hex")}`;
      srec.appInproc = socket.bind(inproc).then(() => inproc);
    }
    const appInproc = await srec.appInproc;
    const rec: EndpointRecord = {
      id,
      kind,
      runner,
      socket: srec,
      given: endpoint,
      resolved: endpoint,
      applied: false,
      key,
      request: {
        id,
        endpoint: parsed,
        socketType: srec.type,
        appInproc,
        options: this.#linkOptions(socket, options, srec.options),
      },
    };
    srec.endpoints.set(key, rec);
    this.#endpoints.set(id, rec);
    return rec;
  }

  /** Link options: vtx defaults < Vtx options < the socket's zeromq.js options < per-call options. */
  #linkOptions(socket: AnySocket, options: Partial<LinkOptions> | undefined, created?: Readonly<Record<string, unknown>>): LinkOptions {
    const s = socket as unknown as Record<string, unknown>;
    const fromSocket: Partial<LinkOptions> = {};
    const num = (k: string): number | undefined => {
      try {
        const v = s[k];
        return typeof v === "number" ? v : undefined;
      } catch {
        return undefined;
      }
    };
    const str = (k: string): string | undefined => {
      try {
        const v = s[k];
        return typeof v === "string" && v !== "" ? v : undefined;
      } catch {
        return undefined;
      }
    };
    const hb = num("heartbeatInterval");
    if (hb !== undefined && hb > 0) fromSocket.heartbeatInterval = hb;
    const hbt = num("heartbeatTimeout");
    if (hbt !== undefined && hbt > 0) fromSocket.heartbeatTimeout = hbt;
    const ttl = num("heartbeatTimeToLive");
    if (ttl !== undefined && ttl > 0) fromSocket.heartbeatTtl = ttl;
    const linger = num("linger");
    if (linger !== undefined) fromSocket.linger = linger;
    const mms = num("maxMessageSize");
    if (mms !== undefined && mms >= 0) fromSocket.maxMessageSize = mms;
    const ri = num("reconnectInterval");
    if (ri !== undefined && ri > 0 && ri !== 100) fromSocket.reconnectInterval = ri;
    const rim = num("reconnectMaxInterval");
    if (rim !== undefined && rim > 0) fromSocket.reconnectIntervalMax = rim;
    const hs = num("handshakeInterval");
    if (hs !== undefined && hs > 0 && hs !== 30_000) fromSocket.handshakeTimeout = hs;
    // Multicast options, only where they differ from libzmq's defaults (so a driver's own defaults still apply).
    const multicast: NonNullable<LinkOptions["multicast"]> = {};
    const rate = num("rate");
    if (rate !== undefined && rate > 0 && rate !== 100) multicast.rate = rate;
    const rivl = num("recoveryInterval");
    if (rivl !== undefined && rivl > 0 && rivl !== 10_000) multicast.recoveryInterval = rivl;
    const hops = num("multicastHops");
    if (hops !== undefined && hops >= 0 && hops !== 1) multicast.hops = hops;
    const tpdu = num("multicastMaxTransportDataUnit");
    if (tpdu !== undefined && tpdu > 0 && tpdu !== 1500) multicast.maxTpdu = tpdu;
    if (Object.keys(multicast).length > 0) fromSocket.multicast = multicast;
    const rid = str("routingId");
    if (rid !== undefined) fromSocket.identity = rid;
    const user = str("plainUsername");
    if (user !== undefined) {
      fromSocket.plainUsername = user;
      fromSocket.plainPassword = str("plainPassword") ?? "";
    }
    try {
      if (s.plainServer === true) fromSocket.plainServer = true;
    } catch {
      // Not a PLAIN-capable socket build.
    }
    // CURVE: curveServer reads back; the keys only from the options the socket was created with.
    try {
      if (s.curveServer === true) fromSocket.curveServer = true;
    } catch {
      // Not a CURVE-capable socket build.
    }
    for (const k of ["curvePublicKey", "curveSecretKey", "curveServerKey"] as const) {
      const v = created?.[k];
      if (typeof v === "string" && v !== "") fromSocket[k] = v;
    }
    return { ...DEFAULT_LINK_OPTIONS, ...this.#opts.link, ...fromSocket, ...options };
  }

  #forget(rec: EndpointRecord): void {
    rec.socket.endpoints.delete(rec.key);
    this.#endpoints.delete(rec.id);
  }

  async #drop(socket: AnySocket, endpoint: string, kind: "bind" | "connect"): Promise<void> {
    const runner = this.#runnerFor(endpoint);
    if (!runner) {
      if (kind === "bind") await socket.unbind(endpoint);
      else socket.disconnect(endpoint);
      return;
    }
    const srec = this.#sockets.get(socket);
    const rec = srec?.endpoints.get(`${kind} ${endpoint}`) ?? [...(srec?.endpoints.values() ?? [])].find((r) => r.kind === kind && r.resolved === endpoint);
    if (!rec) throw new VtxError("VTX_ENDPOINT_NOT_FOUND", `socket is not ${kind === "bind" ? "bound to" : "connected to"} ${endpoint}`);
    await this.#dropRecord(rec);
  }

  async #dropRecord(rec: EndpointRecord): Promise<void> {
    this.#forget(rec);
    if (rec.kind === "bind") await rec.runner.unbind(rec.id);
    else await rec.runner.disconnect(rec.id);
    // The endpoint's bridges have disconnected from the app socket (sealed):
    // the ends of their pipes are in its command queue, and a send (which
    // zeromq.js starts with a ZMQ_EVENTS query, processing those commands)
    // no longer routes to them, as after zmq_disconnect. The socket is not
    // queried here: its file descriptor is edge-triggered, and a query made
    // while the application waits in receive() can swallow that wake-up.
  }

  #emit(e: VtxEvent): void {
    for (const l of [...this.#listeners]) {
      try {
        l(e);
      } catch {
        // A listener's bug must not break the manager.
      }
    }
  }

  readonly #runnerHost: RunnerHost = {
    reapply: async (runner) => {
      for (const rec of [...this.#endpoints.values()]) {
        if (rec.runner !== runner || !rec.applied) continue;
        try {
          if (rec.kind === "bind") await runner.bind(rec.request);
          else await runner.connect(rec.request);
        } catch (err) {
          this.#emit({ type: "peer-error", scheme: runner.scheme, endpoint: rec.given, socket: rec.socket.socket, error: toWireError(err) });
        }
      }
    },
    driverDown: (runner, error) => {
      // The links died with the driver, but the events saying so may not
      // have made it out of the worker before its mailbox closed: report
      // each peer still connected as disconnected, so every `connected`
      // has its `disconnected`.
      const live = this.#livePeers.get(runner.scheme);
      this.#livePeers.delete(runner.scheme);
      const why = error ?? { code: "VTX_DRIVER_DOWN", message: `driver "${runner.scheme}" stopped` };
      for (const e of live?.values() ?? []) this.#emit({ ...e, type: "disconnected", error: why });
      if (error) this.#emit({ type: "driver-crashed", scheme: runner.scheme, error });
    },
    event: (scheme, event: HostEvent) => {
      const rec = event.id === undefined ? undefined : this.#endpoints.get(event.id);
      const e: VtxEvent = { type: event.type, scheme, endpoint: rec?.given, socket: rec?.socket.socket, peer: event.peer, error: event.error };
      if (event.type === "connected" || event.type === "disconnected") {
        const key = `${event.id ?? ""} ${event.peer ?? ""}`;
        let live = this.#livePeers.get(scheme);
        if (event.type === "connected") {
          if (!live) this.#livePeers.set(scheme, (live = new Map<string, VtxEvent>()));
          live.set(key, e);
        } else if (live?.delete(key) !== true) {
          return; // already reported when its driver went down
        }
      }
      this.#emit(e);
    },
    authenticate: async (id, creds) => {
      const rec = this.#endpoints.get(id);
      const auth = this.#opts.authenticate;
      if (!rec || !auth) return false;
      try {
        return await auth({ ...creds, endpoint: rec.given });
      } catch {
        return false;
      }
    },
  };
}
