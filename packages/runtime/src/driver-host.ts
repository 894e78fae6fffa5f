/**
 * The driver host: the piscina worker module that runs drivers as long-lived
 * tasks, several per worker, each controlled through its {@link Mailbox}.
 *
 * Worker threads are kept alive on purpose. zeromq.js sends Buffers of more
 * than 128 B zero-copy, so a message a bridge delivered to the application
 * points into this thread's heap until the application lets go of it; a
 * worker that exits under such messages has aborted the process with heap
 * corruption. So a crashing driver never takes its worker down: uncaught
 * exceptions, unhandled rejections and `process.exit` inside a driver are
 * trapped here and turn into the guilty driver's task failing after its
 * resources are closed (the driver is found from the error's stack: a frame
 * in the driver's own module folder; when no frame names one driver, every
 * driver in this worker is restarted — a worker is one failure domain).
 * AsyncLocalStorage would attribute more precisely but enables promise hooks
 * for every promise in the worker, which cost 10–20 % on the bridge's
 * per-message receive loop here. The
 * supervisor on the application thread then starts the driver again (in a
 * live worker) and re-applies its endpoints.
 */
import { Bridge } from "./bridge.js";
import { bridgePlan } from "./socket-types.js";
import type { EndpointRequest, HostEvent, HostToManager, ManagerToHost } from "./control.js";
import type { Closable, Driver, DriverContext, DriverFactory, DriverSpec } from "./driver.js";
import { toWireError, VtxError, type WireError } from "./errors.js";
import { Mailbox } from "./mailbox.js";
import { installWorkerQuiesce } from "./exit-quiesce.js";
import { workerData } from "piscina";

export interface DriverTask {
  scheme: string;
  spec: DriverSpec;
  mailbox: string;
}

installWorkerQuiesce((workerData as { vtxExitWords?: unknown } | undefined)?.vtxExitWords);

const live = new Set<DriverInstance>();

/**
 * Per application socket (its inproc address): the bridges that drivers of
 * this worker closed on going down, until the app socket has let go of
 * them. A restarted driver's bridges to the same socket hold their
 * deliveries until then, so the app never reads a message from before a
 * crash after one from after it (see Bridge.closeReleased).
 */
const releasing = new Map<string, Set<Promise<void>>>();

function release(appInproc: string, released: Promise<void>): void {
  let set = releasing.get(appInproc);
  if (!set) releasing.set(appInproc, (set = new Set()));
  set.add(released);
  void released.finally(() => {
    set.delete(released);
    if (set.size === 0 && releasing.get(appInproc) === set) releasing.delete(appInproc);
  });
}
/**
 * Per app socket and peer routing id (app ROUTER/REP, DEALER bridges), and
 * per app PAIR: the bridge of the previous link, until the app socket has
 * let go of it. libzmq's ROUTER refuses a pipe whose routing id it still
 * has, and a PAIR a second pipe while it has one, for good over inproc, so
 * the next bridge connects only after that.
 */
const idsInUse = new Map<string, Promise<void>>();
const bridgeIds = new WeakMap<Bridge, string>();

/** The key under which a bridge's app-side pipe is exclusive (see idsInUse), if it is. */
function exclusiveKey(req: EndpointRequest, routingId: Buffer | undefined): string | undefined {
  if (req.socketType === "PAIR") return `${req.appInproc}\npair`;
  if (routingId !== undefined && bridgePlan(req.socketType).bridgeType === "DEALER") return `${req.appInproc}\n${routingId.toString("hex")}`;
  return undefined;
}

/** Closes a bridge whose app socket may still hold what it delivered; the promise settles once it has let go. */
function closeHeld(bridge: Bridge, crashed: boolean): void {
  const released = bridge.closeReleased();
  if (crashed) release(bridge.appInproc, released);
  const key = bridgeIds.get(bridge);
  if (key === undefined) return;
  idsInUse.set(key, released);
  void released.finally(() => {
    if (idsInUse.get(key) === released) idsInUse.delete(key);
  });
}

/** Set while the host itself makes a driver misbehave (fault injection). */
let blamed: DriverInstance | null = null;

/** The drivers an error belongs to: the one whose module folder is on the stack, else all. */
function culprits(stack: string | undefined): DriverInstance[] {
  if (blamed) {
    const b = blamed;
    blamed = null;
    return [b];
  }
  if (stack) {
    const hits = [...live].filter((i) => stack.includes(i.moduleDir));
    if (hits.length === 1) return hits;
  }
  return [...live];
}

/** Thrown by the trapped `process.exit` to unwind the caller's stack. */
class DriverExitSignal extends Error {
  constructor(readonly exitCode: number | string | null | undefined) {
    super(`driver called process.exit(${String(exitCode)})`);
  }
}

function crashFromTrap(err: unknown): void {
  if (err instanceof DriverExitSignal) return; // already handled at the exit call
  const wire = { code: "VTX_DRIVER_CRASHED", message: `driver threw: ${toWireError(err).message}` };
  for (const i of culprits(err instanceof Error ? err.stack : undefined)) i.crash(wire);
}

let trapsInstalled = false;
function installTraps(): void {
  if (trapsInstalled) return;
  trapsInstalled = true;
  process.exit = ((code?: number | string | null) => {
    const wire = { code: "VTX_DRIVER_EXITED", message: `driver called process.exit(${String(code)})` };
    const signal = new DriverExitSignal(code);
    for (const i of culprits(signal.stack)) i.crash(wire);
    throw signal;
  });
  process.on("uncaughtException", crashFromTrap);
  process.on("unhandledRejection", crashFromTrap);
}

/** Piscina task entry: runs one driver until it stops (resolves) or crashes (rejects with {code,message}). */
export default async function runDriver(task: DriverTask): Promise<void> {
  installTraps();
  const inst = new DriverInstance(task);
  live.add(inst);
  try {
    await inst.run();
  } finally {
    live.delete(inst);
  }
}

class DriverInstance implements DriverContext {
  readonly scheme: string;
  /** The driver module's folder as it appears in stack traces. */
  readonly moduleDir: string;
  readonly #task: DriverTask;
  readonly #abort = new AbortController();
  readonly #resources = new Set<Closable>();
  #mailbox: Mailbox<HostToManager, ManagerToHost> | null = null;
  #driver: Driver | null = null;
  #settle: { resolve: () => void; reject: (e: WireError) => void } | null = null;
  #done = false;
  #ref = 0;
  readonly #authWaiters = new Map<number, (ok: boolean) => void>();
  /** The open bridges of each bind/connect (by request id). */
  readonly #bridges = new Map<string, Set<Bridge>>();

  constructor(task: DriverTask) {
    this.#task = task;
    this.scheme = task.scheme;
    const m = task.spec.module;
    this.moduleDir = m.slice(0, m.lastIndexOf("/") + 1);
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  run(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#settle = { resolve, reject };
      this.#start().catch((err: unknown) => this.crash({ code: "VTX_DRIVER_START", message: toWireError(err).message }));
    });
  }

  async #start(): Promise<void> {
    const mailbox = Mailbox.connect<HostToManager, ManagerToHost>(this.#task.mailbox);
    this.#mailbox = mailbox;
    const mod = (await import(this.#task.spec.module)) as Record<string, unknown>;
    const factory = mod[this.#task.spec.export];
    if (typeof factory !== "function") {
      throw new VtxError("VTX_DRIVER_MODULE", `${this.#task.spec.module} does not export a driver factory "${this.#task.spec.export}"`);
    }
    this.#driver = (factory as DriverFactory)(this, this.#task.spec.options);
    mailbox.send({ t: "ready" });
    for await (const msg of mailbox) {
      if (this.#done) return;
      this.#handle(msg);
    }
  }

  #handle(msg: ManagerToHost): void {
    const driver = this.#driver;
    if (!driver) return;
    switch (msg.t) {
      case "bind":
        this.#reply(msg.ref, () => driver.bind(msg.req).then((endpoint) => ({ endpoint })));
        return;
      case "connect":
        this.#reply(msg.ref, () => driver.connect(msg.req).then(() => ({})));
        return;
      case "unbind":
        this.#reply(msg.ref, () => this.#seal(msg.id).then(() => driver.unbind(msg.id)).then(() => ({})));
        return;
      case "disconnect":
        // Sealed first: once the reply is in, the app socket routes nothing more to this connect's bridges.
        this.#reply(msg.ref, () => this.#seal(msg.id).then(() => driver.disconnect(msg.id)).then(() => ({})));
        return;
      case "auth-reply": {
        const w = this.#authWaiters.get(msg.ref);
        this.#authWaiters.delete(msg.ref);
        w?.(msg.ok);
        return;
      }
      case "stop":
        void this.#stop();
        return;
      case "kill":
        this.crash({ code: "VTX_DRIVER_KILLED", message: "driver killed after its shutdown timeout" });
        return;
      case "crash":
        this.#chaos(msg.how);
        return;
    }
  }

  /** Runs one driver call and replies with its outcome; a driver that throws
   *  synchronously (a non-async method) fails that call, not the whole driver. */
  #reply(ref: number, call: () => Promise<{ endpoint?: string }>): void {
    let p: Promise<{ endpoint?: string }>;
    try {
      p = call();
    } catch (err) {
      this.#mailbox?.send({ t: "reply", ref, ok: false, error: toWireError(err) });
      return;
    }
    p.then(
      (r) => this.#mailbox?.send({ t: "reply", ref, ok: true, ...r }),
      (err: unknown) => this.#mailbox?.send({ t: "reply", ref, ok: false, error: toWireError(err) }),
    );
  }

  /** Misbehaves on purpose, the way a buggy driver would (fault tests). */
  #chaos(how: "throw" | "exit" | "reject"): void {
    setImmediate(() => {
      // Real misbehaviour, trapped by the same handlers as a real bug; the
      // blame is taken by the first trap that fires.
      // eslint-disable-next-line @typescript-eslint/no-this-alias -- the blame is module state read by the process-wide traps
      blamed = this;
      if (how === "exit") process.exit(70);
      else if (how === "throw") throw new Error("chaos: driver threw");
      else void Promise.reject(new Error("chaos: driver rejected"));
    });
  }

  async #stop(): Promise<void> {
    try {
      await this.#driver?.stop();
    } catch {
      // Stopping anyway: resources are closed below.
    }
    this.#finish();
    this.#settle?.resolve();
  }

  /** Marks the driver crashed: close everything it owns and fail its task. */
  crash(error: WireError): void {
    if (this.#done) return;
    this.#finish();
    this.#settle?.reject(error);
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#abort.abort();
    this.#bridges.clear();
    for (const r of [...this.#resources]) {
      try {
        if (r instanceof Bridge) closeHeld(r, true);
        else r.close();
      } catch {
        // Closing a half-dead resource must not stop closing the others.
      }
    }
    this.#resources.clear();
    for (const w of this.#authWaiters.values()) w(false);
    this.#authWaiters.clear();
    this.#mailbox?.close();
  }

  // ---- DriverContext -------------------------------------------------------

  openBridge(req: EndpointRequest, opts?: { routingId?: Buffer | undefined; peer?: string | undefined }): Bridge {
    if (this.#done) throw new VtxError("VTX_DRIVER_STOPPED", "driver stopped");
    const earlier = releasing.get(req.appInproc);
    const after = earlier === undefined ? undefined : Promise.all(earlier);
    const routingId = opts?.routingId;
    const key = exclusiveKey(req, routingId);
    const connectAfter = key === undefined ? undefined : idsInUse.get(key);
    const bridge = Bridge.open(req.socketType, req.appInproc, { routingId, after, connectAfter });
    if (key !== undefined) bridgeIds.set(bridge, key);
    this.track(bridge);
    let set = this.#bridges.get(req.id);
    if (set === undefined) this.#bridges.set(req.id, (set = new Set()));
    set.add(bridge);
    return bridge;
  }

  /** Seals every open bridge of request `id` (see Bridge.seal). */
  async #seal(id: string): Promise<void> {
    const set = this.#bridges.get(id);
    if (set !== undefined) await Promise.all([...set].map((b) => b.seal()));
  }

  closeBridge(req: EndpointRequest, bridge: Bridge): void {
    this.#resources.delete(bridge);
    const set = this.#bridges.get(req.id);
    if (set?.delete(bridge) && set.size === 0) this.#bridges.delete(req.id);
    // Going down, the driver's links close its bridges as they end. A peer
    // with its own routing id may come back: its id stays taken until the
    // app socket lets go of this bridge.
    if (this.#done || bridgeIds.has(bridge)) closeHeld(bridge, this.#done);
    else bridge.close();
  }

  emit(event: HostEvent): void {
    this.#mailbox?.send({ t: "event", event });
  }

  authenticate(req: EndpointRequest, creds: { mechanism: "PLAIN"; username: string; password: string; peer?: string | undefined }): Promise<boolean> {
    if (this.#done || !this.#mailbox) return Promise.resolve(false);
    const ref = ++this.#ref;
    const p = new Promise<boolean>((resolve) => this.#authWaiters.set(ref, resolve));
    this.#mailbox.send({ t: "auth", ref, id: req.id, ...creds });
    return p;
  }

  track(resource: Closable): () => void {
    if (this.#done) {
      resource.close();
      return () => undefined;
    }
    this.#resources.add(resource);
    return () => this.#resources.delete(resource);
  }
}
