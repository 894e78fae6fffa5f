import { randomBytes } from "node:crypto";
import type { Piscina } from "piscina";
import type { EndpointRequest, HostEvent, HostToManager, ManagerToHost } from "./control.js";
import type { DriverSpec } from "./driver.js";
import type { DriverTask } from "./driver-host.js";
import { fromWireError, VtxError, type WireError } from "./errors.js";
import { Mailbox } from "./mailbox.js";
import { Supervisor, type ChildExit, type ChildHandle } from "./supervisor/index.js";

/** What the runner needs from the manager. */
export interface RunnerHost {
  /** The driver is (again) up: re-apply every bind and connect it had. */
  reapply(runner: DriverRunner): Promise<void>;
  /** The driver died: every bridge it had is gone. */
  driverDown(runner: DriverRunner, error: WireError | undefined): void;
  event(scheme: string, event: HostEvent): void;
  authenticate(id: string, creds: { username: string; password: string; peer?: string | undefined }): Promise<boolean>;
}

export interface RunnerOptions {
  intensity: number;
  period: number;
  shutdownTimeout: number;
}

type Pending = { resolve: (r: { endpoint?: string }) => void; reject: (e: VtxError) => void };

/**
 * Runs one registered driver as a supervised, long-lived piscina task and
 * talks to it over a mailbox. The supervisor restarts the task when the
 * driver crashes; after each (re)start the manager re-applies the driver's
 * endpoints.
 */
export class DriverRunner {
  readonly scheme: string;
  readonly #spec: DriverSpec;
  readonly #pool: Piscina<DriverTask, void>;
  readonly #host: RunnerHost;
  readonly #opts: RunnerOptions;
  readonly #supervisor: Supervisor;
  #mailbox: Mailbox<ManagerToHost, HostToManager> | null = null;
  #ready: Promise<void> | null = null;
  /** Between a crash and the next start that gets ready: what calls made meanwhile wait for. */
  #between: { promise: Promise<void>; resolve: () => void; reject: (e: VtxError) => void } | null = null;
  #pending = new Map<number, Pending>();
  #ref = 0;
  #started = false;
  #stopped = false;
  #failure: VtxError | null = null;

  constructor(scheme: string, spec: DriverSpec, pool: Piscina<DriverTask, void>, host: RunnerHost, opts: RunnerOptions) {
    this.scheme = scheme;
    this.#spec = spec;
    this.#pool = pool;
    this.#host = host;
    this.#opts = opts;
    this.#supervisor = new Supervisor({
      name: `driver:${scheme}`,
      strategy: "one_for_one",
      intensity: opts.intensity,
      period: opts.period,
      children: [{ id: scheme, start: () => this.#startTask(), restart: "permanent", shutdown: opts.shutdownTimeout }],
    });
    this.#supervisor.on("child-restarted", () => this.#host.event(scheme, { type: "driver-restarted" }));
    this.#supervisor.on("intensity-exceeded", (e) => {
      this.#failure = new VtxError(
        "VTX_DRIVER_GAVE_UP",
        `driver "${scheme}" crashed ${e.restarts} times within ${e.period} ms (intensity ${e.intensity}): stopped`,
      );
    });
    this.#supervisor.on("stopped", (s) => {
      const between = this.#between;
      this.#between = null;
      between?.reject(s.reason === "normal" ? new VtxError("VTX_DRIVER_STOPPED", `driver "${scheme}" was stopped`) : (this.#failure ?? s.error));
      if (s.reason !== "normal") {
        this.#failure ??= s.error;
        this.#host.event(scheme, { type: "driver-stopped", error: { code: this.#failure.code, message: this.#failure.message } });
        this.#failAll(this.#failure);
      }
    });
  }

  /** The error that stopped this driver for good, if any. */
  get failure(): VtxError | null {
    return this.#failure;
  }

  /** Starts the driver (once) and waits until it is ready for commands. */
  async ensureStarted(): Promise<void> {
    if (this.#failure) throw this.#failure;
    if (!this.#started) {
      this.#started = true;
      await this.#supervisor.start();
    }
    await this.#ready;
  }

  #startTask(): ChildHandle {
    const address = `inproc://vtx-ctl-${this.scheme}-${randomBytes(6).toString("hex")}`;
    let mailbox: Mailbox<ManagerToHost, HostToManager> | null = null;
    let markReady: () => void = () => undefined;
    let failReady: (e: VtxError) => void = () => undefined;
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    ready.catch(() => undefined);
    const between = this.#between;
    if (between) {
      // Calls made since the crash wait for a start that gets ready, not
      // for this attempt in particular (it may fail and be retried).
      ready.then(
        () => {
          if (this.#between === between) this.#between = null;
          between.resolve();
        },
        () => undefined,
      );
    }
    this.#ready = between?.promise ?? ready;
    let exitError: WireError | undefined;
    const exited = (async (): Promise<ChildExit> => {
      try {
        mailbox = await Mailbox.bind<ManagerToHost, HostToManager>(address);
        this.#mailbox = mailbox;
        // No abort signal: aborting a running piscina task terminates its
        // worker, which the zero-copy hazard forbids (see driver-host.ts).
        const task = this.#pool.run({ scheme: this.scheme, spec: this.#spec, mailbox: address });
        void this.#listen(mailbox, markReady);
        await task;
        return { kind: "normal" };
      } catch (err) {
        const w = err as Partial<WireError>;
        const error = { code: typeof w.code === "string" ? w.code : "VTX_DRIVER_CRASHED", message: String(w.message ?? err) };
        failReady(fromWireError(error));
        exitError = error;
        return { kind: "error", error };
      } finally {
        if (this.#mailbox === mailbox) this.#mailbox = null;
        mailbox?.close();
        const err = new VtxError("VTX_DRIVER_DOWN", `driver "${this.scheme}" went down`);
        this.#failAll(err);
        if (!this.#stopped && this.#failure === null && this.#between === null) {
          // Until the supervisor has restarted it (or given up), a bind or
          // connect waits for the restart instead of failing at once.
          let resolve: () => void = () => undefined;
          let reject: (e: VtxError) => void = () => undefined;
          const promise = new Promise<void>((res, rej) => {
            resolve = res;
            reject = rej;
          });
          promise.catch(() => undefined);
          this.#between = { promise, resolve, reject };
          this.#ready = promise;
        }
        this.#host.driverDown(this, exitError);
      }
    })();
    return {
      exited,
      stop: () => mailbox?.send({ t: "stop" }),
      // Forceful stop: the host closes the driver's resources without asking
      // it. A driver stuck in a loop cannot be reached; the supervisor then
      // gives up on it after its kill timeout, and the worker is kept.
      kill: () => mailbox?.send({ t: "kill" }),
    };
  }

  async #listen(mailbox: Mailbox<ManagerToHost, HostToManager>, markReady: () => void): Promise<void> {
    try {
      for await (const msg of mailbox) {
        // A message read just before this start ended belongs to a dead
        // driver: the manager has already been told it is down.
        if (mailbox.closed) break;
        this.#onMessage(msg, markReady);
      }
    } catch {
      // Mailbox closed: the task's end is reported through its promise.
    }
  }

  #onMessage(msg: HostToManager, markReady: () => void): void {
    switch (msg.t) {
      case "ready":
        markReady();
        // After a restart, put the endpoints back; commands queue behind this.
        void this.#host.reapply(this).catch(() => undefined);
        return;
      case "reply": {
        const p = this.#pending.get(msg.ref);
        this.#pending.delete(msg.ref);
        if (!p) return;
        if (msg.ok) p.resolve({ endpoint: msg.endpoint });
        else p.reject(fromWireError(msg.error));
        return;
      }
      case "auth":
        this.#host.authenticate(msg.id, { username: msg.username, password: msg.password, peer: msg.peer }).then(
          (ok) => this.#mailbox?.send({ t: "auth-reply", ref: msg.ref, ok }),
          () => this.#mailbox?.send({ t: "auth-reply", ref: msg.ref, ok: false }),
        );
        return;
      case "event":
        this.#host.event(this.scheme, msg.event);
        return;
    }
  }

  /** Sends a request and waits for the driver's reply. */
  async request(
    build: (ref: number) => ManagerToHost,
  ): Promise<{ endpoint?: string | undefined }> {
    await this.ensureStarted();
    const mailbox = this.#mailbox;
    if (!mailbox) throw new VtxError("VTX_DRIVER_DOWN", `driver "${this.scheme}" is not running`);
    const ref = ++this.#ref;
    return new Promise((resolve, reject) => {
      this.#pending.set(ref, { resolve, reject });
      mailbox.send(build(ref));
    });
  }

  bind(req: EndpointRequest): Promise<{ endpoint?: string | undefined }> {
    return this.request((ref) => ({ t: "bind", ref, req }));
  }

  connect(req: EndpointRequest): Promise<unknown> {
    return this.request((ref) => ({ t: "connect", ref, req }));
  }

  async unbind(id: string): Promise<void> {
    if (!this.#mailbox) return;
    await this.request((ref) => ({ t: "unbind", ref, id }));
  }

  async disconnect(id: string): Promise<void> {
    if (!this.#mailbox) return;
    await this.request((ref) => ({ t: "disconnect", ref, id }));
  }

  /** Chaos hook for fault tests: makes the running driver crash. */
  crash(how: "throw" | "exit" | "reject"): void {
    // Right after `driver-restarted` the new task's mailbox is not bound
    // yet; wait for that start to be ready instead of dropping the command.
    this.whenReady().then(
      () => this.#mailbox?.send({ t: "crash", how }),
      () => undefined,
    );
  }

  /** Resolves when the driver is running and ready again (after a restart). */
  whenReady(): Promise<void> {
    return this.#ready ?? Promise.resolve();
  }

  #failAll(err: VtxError): void {
    const ps = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of ps) p.reject(err);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#started) await this.#supervisor.stop();
  }
}
