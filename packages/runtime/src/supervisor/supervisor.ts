import { VtxError } from "../errors.js";
import { callStart } from "./call-start.js";
import { isAbnormalExit, observeExit, type ChildExit, type ChildHandle } from "./child-handle.js";
import { resolveChildSpec, type ChildSpec, type ResolvedChildSpec, type RestartKind } from "./child-spec.js";
import { restartGroup } from "./restart-group.js";
import { RestartIntensity, type RestartVerdict } from "./restart-intensity.js";
import { shutdownChild } from "./shutdown-child.js";
import { SupervisorCode } from "./supervisor-codes.js";
import type { SupervisorEvents, SupervisorStopped } from "./supervisor-events.js";
import { resolveSupervisorOptions, type ResolvedSupervisorOptions, type SupervisorOptions } from "./supervisor-options.js";
import { TypedEmitter } from "./typed-emitter.js";

/** One row of {@link Supervisor.whichChildren}. */
export interface ChildInfo {
  readonly id: string;
  readonly running: boolean;
  /**
   * Waiting to be started again by a restart: during a restart delay, or
   * after its start failed and before the next attempt (OTP's
   * `restarting`). Never true while `running`.
   */
  readonly restarting: boolean;
  /** Times the supervisor's restart logic started this child again (not counting restartChild). */
  readonly restarts: number;
  readonly restart: RestartKind;
}

/** One running instance of a child: a restart makes a new one, so a late exit of an old one is recognised and ignored. */
interface Instance {
  readonly handle: ChildHandle;
  readonly exited: Promise<ChildExit>;
}

/** Marks the children one restart will start; a newer restart or an API call replaces or clears it. */
type RestartToken = object;

interface ChildRecord {
  readonly spec: ResolvedChildSpec;
  running: Instance | undefined;
  /** Set while this child waits to be started by the restart that owns the token. */
  pending: RestartToken | undefined;
  restarts: number;
}

type State = "idle" | "starting" | "running" | "stopping" | "stopped";

/**
 * An Erlang/OTP-style supervisor for long-lived children: transport drivers
 * run by the vtx runtime, or any actor or task of the application.
 *
 * Semantics follow OTP's `supervisor` module: strategies `one_for_one`,
 * `one_for_all` and `rest_for_one`; restart kinds `permanent`, `transient`,
 * `temporary`; per-child shutdown (timeout, `brutal_kill`, `infinity`);
 * restart intensity and period. When the intensity is exceeded the
 * supervisor stops every child (reverse start order, honouring shutdown)
 * and then itself: it emits `intensity-exceeded` and `stopped`, and
 * {@link Supervisor.stopped} resolves with reason `VTX_SUPERVISOR_INTENSITY`.
 * Nothing is thrown or rejected on that path: a parent decides what to do
 * by awaiting `stopped` (a Supervisor can itself be a child: see
 * {@link Supervisor.asChild}).
 *
 * Like an OTP supervisor process, everything the supervisor does (starting
 * children, handling an exit, the API calls) happens one operation at a
 * time, in order. A consequence: a child's `start()` or an event listener
 * must not *await* a call on its own supervisor (it would wait for itself).
 *
 * Deviations from OTP, all deliberate:
 * - an optional `restartDelay` (backoff) between stopping a restart's
 *   children and starting them, during which they show `restarting`;
 * - an optional per-child `startTimeout` (OTP start functions are
 *   synchronous and bounded by the child's own init timeout);
 * - a kill is the child's own code, so the wait after it is bounded by
 *   `killTimeout` and the child is abandoned after that;
 * - children's exits are plain data ({@link ChildExit}), not Erlang reasons;
 * - a child's exit is handled from a macrotask after its `exited` settles,
 *   so a crash loop can never starve the event loop.
 *
 * @example
 * ```ts
 * const sup = new Supervisor({ strategy: "one_for_one", intensity: 3, period: 5000, children: [
 *   { id: "udp", start: () => fromPromise((signal) => runDriver(signal)), shutdown: 2000 },
 * ]});
 * sup.on("child-restarted", ({ id }) => reapplyEndpoints(id));
 * await sup.start();
 * const { reason } = await sup.stopped;
 * ```
 */
export class Supervisor {
  readonly name: string;
  /** Settles once, when the supervisor and all its children have stopped. Never rejects. */
  readonly stopped: Promise<SupervisorStopped>;

  readonly #opts: ResolvedSupervisorOptions;
  readonly #events = new TypedEmitter<SupervisorEvents>();
  readonly #intensity: RestartIntensity;
  readonly #initial: readonly ResolvedChildSpec[];
  /** In start order. */
  #children: ChildRecord[] = [];
  #state: State = "idle";
  #stopRequested = false;
  #resolveStopped: (s: SupervisorStopped) => void = () => {};
  /** The last queued operation; each operation starts when the previous one has ended. */
  #tail: Promise<void> = Promise.resolve();
  /** Timers of delayed restarts, cleared when the supervisor stops. */
  readonly #delayed = new Set<ReturnType<typeof setTimeout>>();

  /** @throws VtxError VTX_SUPERVISOR_BAD_SPEC on invalid options, child specs or duplicate child ids. */
  constructor(opts: SupervisorOptions = {}) {
    this.#opts = resolveSupervisorOptions(opts);
    this.name = this.#opts.name;
    this.#intensity = new RestartIntensity(this.#opts.intensity, this.#opts.period);
    const specs = (opts.children ?? []).map(resolveChildSpec);
    const ids = new Set<string>();
    for (const s of specs) {
      if (ids.has(s.id)) throw new VtxError(SupervisorCode.BAD_SPEC, `${this.name}: two children have id "${s.id}"`);
      ids.add(s.id);
    }
    this.#initial = specs;
    this.stopped = new Promise((resolve) => {
      this.#resolveStopped = resolve;
    });
  }

  /** Adds a listener; returns a function that removes it. A listener that throws is reported as a process warning. */
  on<K extends keyof SupervisorEvents>(event: K, fn: (payload: SupervisorEvents[K]) => void): () => void {
    return this.#events.on(event, fn);
  }

  /**
   * Starts the initial children, one after the other, in order. If one
   * fails to start, those already started are stopped (reverse order), the
   * supervisor stops (`stopped` resolves with reason `VTX_SUPERVISOR_START`)
   * and this rejects with that same VtxError (its `cause` is the child's
   * error, its `detail.id` the child's id).
   */
  start(): Promise<void> {
    if (this.#state !== "idle") {
      const code = this.#state === "stopped" ? SupervisorCode.NOT_RUNNING : SupervisorCode.ALREADY_STARTED;
      return Promise.reject(new VtxError(code, `${this.name}: start() called when ${this.#state}`));
    }
    this.#state = "starting";
    return this.#enqueue(async () => {
      for (const spec of this.#initial) {
        const rec: ChildRecord = { spec, running: undefined, pending: undefined, restarts: 0 };
        this.#children.push(rec);
        const failure = await this.#startInstance(rec, undefined);
        if (failure !== undefined) {
          this.#state = "stopping";
          await this.#terminateAll();
          const error = new VtxError(SupervisorCode.START, `${this.name}: child "${spec.id}" failed to start: ${failure.message}`, {
            cause: failure.cause ?? failure,
            detail: { id: spec.id },
          });
          this.#finish({ reason: SupervisorCode.START, error });
          throw error;
        }
      }
      this.#state = "running";
    });
  }

  /**
   * Adds a child at the end of the start order and starts it.
   * Rejects with VTX_SUPERVISOR_BAD_SPEC, VTX_SUPERVISOR_DUPLICATE_CHILD (detail.running says
   * whether the present one runs), VTX_SUPERVISOR_CHILD_START (the child is not added) or
   * VTX_SUPERVISOR_NOT_RUNNING.
   */
  async startChild(spec: ChildSpec): Promise<void> {
    const resolved = resolveChildSpec(spec);
    return this.#enqueue(async () => {
      this.#assertRunning("startChild");
      const present = this.#find(resolved.id);
      if (present !== undefined) {
        throw new VtxError(SupervisorCode.DUPLICATE_CHILD, `${this.name}: child "${resolved.id}" is already present`, {
          detail: { id: resolved.id, running: present.running !== undefined },
        });
      }
      const rec: ChildRecord = { spec: resolved, running: undefined, pending: undefined, restarts: 0 };
      this.#children.push(rec);
      const failure = await this.#startInstance(rec, undefined);
      if (failure !== undefined) {
        this.#remove(rec);
        throw failure;
      }
    });
  }

  /**
   * Stops a child (honouring its shutdown) without restarting it. Its spec
   * stays, so `restartChild` can start it again, except for a `temporary`
   * child, which is forgotten. A child waiting for a restart is not
   * restarted. Stopping a child that is not running is a no-op.
   * Rejects with VTX_SUPERVISOR_NO_CHILD or VTX_SUPERVISOR_NOT_RUNNING.
   */
  terminateChild(id: string): Promise<void> {
    return this.#enqueue(async () => {
      this.#assertRunning("terminateChild");
      const rec = this.#get(id);
      rec.pending = undefined;
      await this.#terminate(rec);
      if (rec.spec.restart === "temporary") this.#remove(rec);
    });
  }

  /**
   * Starts again a child that is present but not running (after
   * terminateChild, a transient child that ended normally, or one waiting
   * for a restart, which then happens now). Not counted as a restart.
   * Rejects with VTX_SUPERVISOR_NO_CHILD, VTX_SUPERVISOR_CHILD_RUNNING,
   * VTX_SUPERVISOR_CHILD_START or VTX_SUPERVISOR_NOT_RUNNING.
   */
  restartChild(id: string): Promise<void> {
    return this.#enqueue(async () => {
      this.#assertRunning("restartChild");
      const rec = this.#get(id);
      this.#assertNotRunning(rec, "restartChild");
      const failure = await this.#startInstance(rec, undefined);
      if (failure !== undefined) throw failure;
    });
  }

  /**
   * Forgets a child that is not running. Rejects with VTX_SUPERVISOR_NO_CHILD,
   * VTX_SUPERVISOR_CHILD_RUNNING, VTX_SUPERVISOR_CHILD_RESTARTING (terminate
   * it first) or VTX_SUPERVISOR_NOT_RUNNING.
   */
  deleteChild(id: string): Promise<void> {
    return this.#enqueue(async () => {
      this.#assertRunning("deleteChild");
      const rec = this.#get(id);
      this.#assertNotRunning(rec, "deleteChild");
      if (rec.pending !== undefined) {
        throw new VtxError(SupervisorCode.CHILD_RESTARTING, `${this.name}: deleteChild: child "${id}" is waiting to restart`, { detail: { id } });
      }
      this.#remove(rec);
    });
  }

  /**
   * Resolves once every operation queued before this call (exits being
   * handled, restarts, API calls) has finished: a barrier, like OTP's
   * `sys:get_state/1`, for code that must observe the tree after an exit
   * has been dealt with (e.g. after its `child-exited` event). A child's
   * exit is queued one macrotask after its `exited` settles. Never rejects.
   */
  sync(): Promise<void> {
    return this.#enqueue(async () => undefined);
  }

  /** The children in start order, as of now. */
  whichChildren(): ChildInfo[] {
    return this.#children.map((c) => ({
      id: c.spec.id,
      running: c.running !== undefined,
      restarting: c.pending !== undefined,
      restarts: c.restarts,
      restart: c.spec.restart,
    }));
  }

  /**
   * Stops all children in reverse start order (each honouring its shutdown)
   * and then the supervisor, with reason `normal`. An operation in progress
   * finishes first; delayed restarts are cancelled. Resolves
   * when stopped; calling it again, or after the supervisor stopped by
   * itself, just waits for that. Never rejects.
   */
  stop(): Promise<void> {
    if (!this.#stopRequested) {
      this.#stopRequested = true;
      this.#cancelDelayed();
      if (this.#state === "idle") this.#finish({ reason: "normal" });
      else
        this.#enqueueInternal(async () => {
          if (this.#state === "stopped") return;
          this.#state = "stopping";
          await this.#terminateAll();
          this.#finish({ reason: "normal" });
        });
    }
    return this.stopped.then(() => undefined);
  }

  /**
   * This supervisor as a child of another supervisor (OTP supervision
   * trees). Starting the handle starts this supervisor; `stop()` stops it;
   * its exit is `shutdown` after a normal stop and an `error` with the
   * stop reason's code otherwise. A Supervisor can be started only once, so
   * the spec's `start` must build a new one each time, e.g.
   * `{ id: "drivers", start: () => new Supervisor(opts).asChild(), shutdown: "infinity" }`.
   */
  async asChild(): Promise<ChildHandle> {
    await this.start();
    return {
      exited: this.stopped.then(
        (s): ChildExit => (s.reason === "normal" ? { kind: "shutdown" } : { kind: "error", error: { code: s.error.code, message: s.error.message } }),
      ),
      stop: () => void this.stop(),
    };
  }

  // ---- internals ---------------------------------------------------------

  /** Queues an operation that the caller awaits (it may reject). */
  #enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(op);
    this.#tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Queues an operation nobody awaits; it must not reject, and if a bug makes it, the process hears of it as a warning, not an unhandled rejection. */
  #enqueueInternal(op: () => Promise<void>): void {
    this.#enqueue(op).catch((err: unknown) => {
      const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
      process.emitWarning(`${this.name}: internal operation failed`, { code: "VTX_SUPERVISOR_INTERNAL", detail });
    });
  }

  #assertRunning(what: string): void {
    if (this.#state !== "running" || this.#stopRequested) {
      throw new VtxError(SupervisorCode.NOT_RUNNING, `${this.name}: ${what} while ${this.#stopRequested && this.#state === "running" ? "stopping" : this.#state}`);
    }
  }

  #assertNotRunning(rec: ChildRecord, what: string): void {
    if (rec.running !== undefined) {
      throw new VtxError(SupervisorCode.CHILD_RUNNING, `${this.name}: ${what}: child "${rec.spec.id}" is running`, { detail: { id: rec.spec.id } });
    }
  }

  #find(id: string): ChildRecord | undefined {
    return this.#children.find((c) => c.spec.id === id);
  }

  #get(id: string): ChildRecord {
    const rec = this.#find(id);
    if (rec === undefined) throw new VtxError(SupervisorCode.NO_CHILD, `${this.name}: no child "${id}"`, { detail: { id } });
    return rec;
  }

  #remove(rec: ChildRecord): void {
    this.#children = this.#children.filter((c) => c !== rec);
  }

  /**
   * Starts one instance of `rec`. Returns the failure (VTX_SUPERVISOR_CHILD_START,
   * its cause the child's error) instead of throwing, because every caller
   * has its own policy for it. `restartCause` is set when this is a restart.
   */
  async #startInstance(rec: ChildRecord, restartCause: string | undefined): Promise<VtxError | undefined> {
    const id = rec.spec.id;
    let handle: ChildHandle;
    try {
      handle = await callStart(rec.spec);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const error = new VtxError(SupervisorCode.CHILD_START, `${this.name}: child "${id}" failed to start: ${message}`, { cause: err, detail: { id } });
      this.#events.emit("child-start-failed", { id, error });
      return error;
    }
    const instance: Instance = { handle, exited: observeExit(handle) };
    rec.running = instance;
    rec.pending = undefined;
    // Handled from a macrotask: a child that fails again as soon as it is
    // restarted then cannot keep the event loop in microtasks, starving I/O
    // and timers, however the intensity is configured.
    void instance.exited.then((exit) => setImmediate(() => this.#enqueueInternal(() => this.#onChildExit(rec, instance, exit))));
    if (restartCause !== undefined) rec.restarts += 1;
    this.#events.emit("child-started", { id, restarts: rec.restarts });
    if (restartCause !== undefined) this.#events.emit("child-restarted", { id, restarts: rec.restarts, cause: restartCause });
    return undefined;
  }

  /** A child instance ended by itself (OTP: the supervisor got its 'EXIT'). */
  async #onChildExit(rec: ChildRecord, instance: Instance, exit: ChildExit): Promise<void> {
    // Stale: the supervisor stopped or replaced this instance meanwhile and has reported that.
    if (rec.running !== instance) return;
    rec.running = undefined;
    this.#events.emit("child-exited", { id: rec.spec.id, exit, initiatedBy: "child", killed: false });
    if (this.#state !== "running" || this.#stopRequested) return;
    switch (rec.spec.restart) {
      case "temporary":
        this.#remove(rec);
        return;
      case "transient":
        if (!isAbnormalExit(exit)) return;
        break;
      case "permanent":
        break;
    }
    await this.#restart(rec);
  }

  /**
   * OTP `restart/2`: count the restart against the intensity, stop the
   * strategy's group (reverse start order), then start it (start order),
   * now or after the restart delay.
   */
  async #restart(cause: ChildRecord): Promise<void> {
    if (this.#state !== "running" || this.#stopRequested) return;
    const verdict = this.#intensity.record(cause.spec.id);
    if (verdict.exceeded) {
      await this.#giveUp(cause, verdict);
      return;
    }
    const group = restartGroup(this.#opts.strategy, this.#children, cause);
    // OTP: a temporary child stopped for a sibling's restart is not restarted but forgotten.
    const toStart = group.filter((rec) => rec.spec.restart !== "temporary");
    // Marked before the (maybe slow) stops, so whichChildren shows them restarting meanwhile. A newer
    // restart that covers the same children re-marks them, so an older delayed restart cannot start
    // them out of order.
    const token: RestartToken = {};
    for (const rec of toStart) rec.pending = token;
    for (const rec of [...group].reverse()) await this.#terminate(rec);
    for (const rec of group) if (rec.spec.restart === "temporary") this.#remove(rec);

    const delay = this.#restartDelay(cause.spec.id, verdict.childInWindow);
    if (delay === 0) {
      await this.#startGroup(toStart, token, cause);
      return;
    }
    // Not OTP: the pause happens outside the operation queue, so other
    // children's exits and API calls are handled meanwhile.
    const timer = setTimeout(() => {
      this.#delayed.delete(timer);
      this.#enqueueInternal(() => this.#startGroup(toStart, token, cause));
    }, delay);
    this.#delayed.add(timer);
  }

  /**
   * Starts, in start order, the children of one restart that still wait for
   * it. If one fails to start, the rest stay down and the failed child is
   * restarted again by a new queued operation (OTP's `try_again`, which
   * lets requests queued meanwhile, like a stop, go first); that restart is
   * counted towards the intensity like any other.
   */
  async #startGroup(group: readonly ChildRecord[], token: RestartToken, cause: ChildRecord): Promise<void> {
    for (const [i, rec] of group.entries()) {
      if (this.#state !== "running" || this.#stopRequested) return;
      // Started meanwhile (restartChild), terminated (terminateChild), deleted, or taken over by a newer restart.
      if (rec.pending !== token || !this.#children.includes(rec)) continue;
      const failure = await this.#startInstance(rec, cause.spec.id);
      if (failure === undefined) continue;
      for (const later of group.slice(i + 1)) if (later.pending === token) later.pending = undefined;
      const retry: RestartToken = {};
      rec.pending = retry;
      // From a macrotask, like an exit (see #startInstance).
      setImmediate(() =>
        this.#enqueueInternal(async () => {
          if (rec.pending === retry && this.#children.includes(rec)) await this.#restart(rec);
        }),
      );
      return;
    }
  }

  #restartDelay(id: string, attempt: number): number {
    try {
      const ms = this.#opts.restartDelay({ id, attempt });
      return Number.isFinite(ms) && ms > 0 ? ms : 0;
    } catch {
      return 0;
    }
  }

  #cancelDelayed(): void {
    for (const timer of this.#delayed) clearTimeout(timer);
    this.#delayed.clear();
  }

  /** Too many restarts: stop everything (OTP: the supervisor exits with reason `shutdown`). */
  async #giveUp(cause: ChildRecord, verdict: RestartVerdict): Promise<void> {
    this.#state = "stopping";
    this.#cancelDelayed();
    const { intensity, period } = this.#opts;
    const error = new VtxError(
      SupervisorCode.INTENSITY,
      `${this.name}: ${verdict.inWindow} restarts within ${period} ms exceed intensity ${intensity} (last caused by "${cause.spec.id}")`,
      { detail: { id: cause.spec.id, restarts: verdict.inWindow, intensity, period } },
    );
    this.#events.emit("intensity-exceeded", { id: cause.spec.id, restarts: verdict.inWindow, intensity, period });
    await this.#terminateAll();
    this.#finish({ reason: SupervisorCode.INTENSITY, error });
  }

  /** Stops one child if it runs, honouring its shutdown, and reports it. */
  async #terminate(rec: ChildRecord): Promise<void> {
    const instance = rec.running;
    if (instance === undefined) return;
    // Cleared first, so that this instance's own exit is recognised as stale.
    rec.running = undefined;
    const result = await shutdownChild(instance.handle, instance.exited, rec.spec.shutdown, this.#opts.killTimeout);
    this.#events.emit("child-exited", { id: rec.spec.id, exit: result.exit, initiatedBy: "supervisor", killed: result.killed });
  }

  /** OTP: children are terminated in reverse start order. */
  async #terminateAll(): Promise<void> {
    for (const rec of [...this.#children].reverse()) await this.#terminate(rec);
  }

  #finish(stopped: SupervisorStopped): void {
    if (this.#state === "stopped") return;
    this.#state = "stopped";
    this.#cancelDelayed();
    for (const rec of this.#children) rec.pending = undefined;
    this.#resolveStopped(stopped);
    this.#events.emit("stopped", stopped);
  }
}
