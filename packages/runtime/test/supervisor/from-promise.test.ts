import { EventEmitter, once } from "node:events";
import { setTimeout as delay } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { fromPromise, Supervisor, SupervisorCode } from "../../src/supervisor/index.js";
import { nextEvent, within } from "./helpers/bounded.js";

describe("fromPromise", () => {
  let sup: Supervisor | undefined;
  afterEach(async () => {
    await within(sup?.stop() ?? Promise.resolve(), 5000, "supervisor stop in afterEach");
    sup = undefined;
  });

  it("reports a resolved task as a normal exit", async () => {
    const handle = fromPromise(async () => {});
    expect(await within(handle.exited, 1000, "exit")).toEqual({ kind: "normal" });
  });

  it("reports a rejected task as an error exit with its code and message", async () => {
    const handle = fromPromise(async () => {
      throw Object.assign(new Error("address in use"), { code: "EADDRINUSE" });
    });
    expect(await within(handle.exited, 1000, "exit")).toEqual({ kind: "error", error: { code: "EADDRINUSE", message: "address in use" } });
  });

  it("reports a synchronous throw and a non-Error rejection as error exits", async () => {
    const sync = fromPromise(() => {
      throw new Error("sync");
    });
    expect(await within(sync.exited, 1000, "exit")).toEqual({ kind: "error", error: { code: "VTX_INTERNAL", message: "sync" } });
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
    const odd = fromPromise(() => Promise.reject("just a string"));
    expect(await within(odd.exited, 1000, "exit")).toEqual({ kind: "error", error: { code: "VTX_INTERNAL", message: "just a string" } });
  });

  it("aborts the signal on stop(), and a task that ends by the abort exits with shutdown", async () => {
    const events = new EventEmitter();
    // A typical long-running loop: waits for work until aborted.
    const handle = fromPromise(async (signal) => {
      for (;;) await once(events, "work", { signal });
    });
    handle.stop();
    expect(await within(handle.exited, 1000, "exit")).toEqual({ kind: "shutdown" });
  });

  it("reports a task that resolves after stop() as a normal exit", async () => {
    const handle = fromPromise(async (signal) => {
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    });
    handle.stop();
    expect(await within(handle.exited, 1000, "exit")).toEqual({ kind: "normal" });
  });

  it("reports a task that fails with another error after stop() as an error", async () => {
    const handle = fromPromise(async (signal) => {
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      throw Object.assign(new Error("flush failed"), { code: "E_FLUSH" });
    });
    handle.stop();
    expect(await within(handle.exited, 1000, "exit")).toMatchObject({ kind: "error", error: { code: "E_FLUSH" } });
  });

  it("kill() aborts the signal, and the task ending then is a VTX_SUPERVISOR_KILLED exit", async () => {
    let aborted: unknown;
    const handle = fromPromise(async (signal) => {
      await new Promise((_, reject) =>
        signal.addEventListener("abort", () => {
          aborted = signal.reason;
          reject(signal.reason as Error);
        }),
      );
    });
    handle.kill?.();
    expect(await within(handle.exited, 1000, "exit")).toMatchObject({ kind: "error", error: { code: SupervisorCode.KILLED } });
    expect(aborted).toMatchObject({ code: SupervisorCode.KILLED });
  });

  it("uses options.stop as the orderly stop and keeps the signal for kill()", async () => {
    let stopRequested: () => void = () => {};
    const stopped = new Promise<void>((resolve) => (stopRequested = resolve));
    let signalSeen: AbortSignal | undefined;
    const handle = fromPromise(
      async (signal) => {
        signalSeen = signal;
        await stopped; // e.g. the task's control mailbox received "stop"
      },
      { stop: () => stopRequested() },
    );
    handle.stop();
    expect(await within(handle.exited, 1000, "exit")).toEqual({ kind: "normal" });
    expect(signalSeen?.aborted).toBe(false);
  });

  it("is abandoned by the supervisor after killTimeout when it ignores its signal", async () => {
    let finishLater: () => void = () => {};
    sup = new Supervisor({
      killTimeout: 100,
      children: [{ id: "deaf", shutdown: 50, start: () => fromPromise(() => new Promise<void>((resolve) => (finishLater = resolve))) }],
    });
    await sup.start();
    const exited = nextEvent(sup, "child-exited");
    const t0 = performance.now();
    await within(sup.terminateChild("deaf"), 2000, "terminateChild");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(148);
    expect(await exited).toMatchObject({ killed: true, exit: { kind: "error", error: { code: SupervisorCode.KILLED } } });
    finishLater();
  });

  it("runs under a supervisor: a failing task is restarted, and stop() aborts the running one", async () => {
    let runs = 0;
    const signals: AbortSignal[] = [];
    sup = new Supervisor({
      intensity: 3,
      children: [
        {
          id: "driver",
          shutdown: 1000,
          start: () =>
            fromPromise(async (signal) => {
              signals.push(signal);
              if (++runs === 1) throw Object.assign(new Error("port briefly busy"), { code: "EADDRINUSE" });
              await delay(60_000, undefined, { signal }); // "serve" until stopped
            }),
        },
      ],
    });
    const restarted = nextEvent(sup, "child-restarted");
    await sup.start();
    expect(await restarted).toMatchObject({ id: "driver", restarts: 1 });
    const exited = nextEvent(sup, "child-exited", (e) => e.initiatedBy === "supervisor");
    await within(sup.stop(), 2000, "stop");
    expect(await exited).toMatchObject({ exit: { kind: "shutdown" }, killed: false });
    expect(signals.map((s) => s.aborted)).toEqual([false, true]);
  });
});
