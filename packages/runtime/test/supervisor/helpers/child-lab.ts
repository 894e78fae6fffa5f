import type { ChildExit, ChildHandle, ChildSpec, RestartKind, Shutdown } from "../../../src/supervisor/index.js";

/** How a test child reacts to `stop()`. */
export type OnStop = "obey" | "ignore" | { readonly afterMs: number };

export interface LabChildOptions {
  readonly restart?: RestartKind;
  readonly shutdown?: Shutdown;
  readonly onStop?: OnStop;
  /** Has a `kill()` (default true). */
  readonly killable?: boolean;
  /** `kill()` is called but the child still never exits. */
  readonly killIgnored?: boolean;
  /** The next this-many starts throw (counted across restarts). */
  readonly failStarts?: number;
  /** Each instance exits with this error as soon as it has started (a crash loop). */
  readonly crashOnStart?: boolean;
  /** Each instance exits with an error this long after starting. */
  readonly crashAfterMs?: number;
}

/** One running instance of a lab child: the test drives its exit. */
export class LiveChild {
  stopCalls = 0;
  killCalls = 0;
  readonly #settle: (exit: ChildExit) => void;
  readonly handle: ChildHandle;

  constructor(
    readonly id: string,
    readonly instance: number,
    opts: LabChildOptions,
    private readonly journal: string[],
  ) {
    let settle!: (exit: ChildExit) => void;
    let done = false;
    const exited = new Promise<ChildExit>((resolve) => {
      settle = (exit) => {
        if (done) return;
        done = true;
        journal.push(`exit:${id}#${instance}:${exit.kind}`);
        resolve(exit);
      };
    });
    this.#settle = settle;
    const onStop = opts.onStop ?? "obey";
    const handle: { exited: Promise<ChildExit>; stop(): void; kill?(): void } = {
      exited,
      stop: () => {
        this.stopCalls++;
        journal.push(`stop:${id}#${instance}`);
        if (onStop === "obey") settle({ kind: "shutdown" });
        else if (onStop !== "ignore") setTimeout(() => settle({ kind: "shutdown" }), onStop.afterMs);
      },
    };
    if (opts.killable ?? true) {
      handle.kill = () => {
        this.killCalls++;
        journal.push(`kill:${id}#${instance}`);
        if (!opts.killIgnored) settle({ kind: "error", error: { code: "KILLED", message: "killed" } });
      };
    }
    this.handle = handle;
  }

  crash(code = "E_TEST_CRASH"): void {
    this.#settle({ kind: "error", error: { code, message: `${this.id} crashed` } });
  }

  finish(): void {
    this.#settle({ kind: "normal" });
  }

  get exited(): Promise<ChildExit> {
    return this.handle.exited;
  }
}

/**
 * Real ChildHandles whose exits the test controls, and a journal of what
 * the supervisor did to them ("start:a#1", "stop:b#1", "kill:b#1",
 * "exit:b#1:shutdown"), to check order.
 */
export class ChildLab {
  readonly journal: string[] = [];
  readonly #live = new Map<string, LiveChild>();
  readonly #starts = new Map<string, number>();

  spec(id: string, opts: LabChildOptions = {}): ChildSpec {
    let failuresLeft = opts.failStarts ?? 0;
    return {
      id,
      ...(opts.restart !== undefined ? { restart: opts.restart } : {}),
      ...(opts.shutdown !== undefined ? { shutdown: opts.shutdown } : {}),
      start: () => {
        if (failuresLeft > 0) {
          failuresLeft--;
          this.journal.push(`start-fail:${id}`);
          throw Object.assign(new Error(`${id} cannot start`), { code: "E_TEST_START" });
        }
        const n = (this.#starts.get(id) ?? 0) + 1;
        this.#starts.set(id, n);
        this.journal.push(`start:${id}#${n}`);
        const child = new LiveChild(id, n, opts, this.journal);
        this.#live.set(id, child);
        if (opts.crashOnStart) queueMicrotask(() => child.crash());
        if (opts.crashAfterMs !== undefined) setTimeout(() => child.crash(), opts.crashAfterMs);
        return child.handle;
      },
    };
  }

  /** The latest instance of `id`. */
  live(id: string): LiveChild {
    const c = this.#live.get(id);
    if (c === undefined) throw new Error(`child ${id} never started`);
    return c;
  }

  /** How many times `id` started. */
  starts(id: string): number {
    return this.#starts.get(id) ?? 0;
  }

  /** Journal entries of the given kinds ("start", "stop", "kill", "exit"), in order. */
  entries(...kinds: string[]): string[] {
    return this.journal.filter((e) => kinds.some((k) => e.startsWith(`${k}:`)));
  }
}
