import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isVtxError, VtxError } from "../../src/errors.js";
import { Supervisor, SupervisorCode } from "../../src/supervisor/index.js";
import { recordEvents, within } from "./helpers/bounded.js";
import { ChildLab } from "./helpers/child-lab.js";
import { afterPendingTasks, watchUnhandled } from "./helpers/unhandled.js";

const hasCode = (code: string) => (e: unknown) => isVtxError(e, code);

describe("supervisor lifecycle", () => {
  let unhandled: ReturnType<typeof watchUnhandled>;
  let sup: Supervisor | undefined;
  beforeEach(() => {
    unhandled = watchUnhandled();
  });
  afterEach(async () => {
    await within(sup?.stop() ?? Promise.resolve(), 5000, "supervisor stop in afterEach");
    sup = undefined;
    await afterPendingTasks();
    unhandled.dispose();
  });

  it("rejects start() with VTX_SUPERVISOR_START when a child fails to start, after stopping those already started", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ children: [lab.spec("a"), lab.spec("b"), lab.spec("bad", { failStarts: 1 }), lab.spec("never")] });
    const events = recordEvents(sup);
    const err: unknown = await sup.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isVtxError(err, SupervisorCode.START)).toBe(true);
    expect((err as VtxError).detail).toEqual({ id: "bad" });
    expect(((err as VtxError).cause as { code?: string }).code).toBe("E_TEST_START");
    expect(lab.entries("start", "start-fail", "stop")).toEqual(["start:a#1", "start:b#1", "start-fail:bad", "stop:b#1", "stop:a#1"]);
    expect(lab.starts("never")).toBe(0);
    expect(events.at(-1)).toBe("stopped:VTX_SUPERVISOR_START");
    const stopped = await sup.stopped;
    expect(stopped.reason).toBe("VTX_SUPERVISOR_START");
    if (stopped.reason !== "normal") expect(stopped.error).toBe(err);
    await afterPendingTasks();
    expect(unhandled.seen).toEqual([]);
  });

  it("treats a start() that returns something other than a ChildHandle as a failed start", async () => {
    sup = new Supervisor({ children: [{ id: "x", start: () => ({}) as never }] });
    await expect(sup.start()).rejects.toSatisfy(hasCode(SupervisorCode.START));
  });

  it("fails a start that takes longer than its startTimeout, and kills the handle that arrives late", async () => {
    const lab = new ChildLab();
    const inner = lab.spec("slow");
    let arrive: () => void = () => {};
    let lateArrived = false;
    const arrived = new Promise<void>((resolve) => (arrive = resolve)).then(() => {
      lateArrived = true;
    });
    sup = new Supervisor({
      children: [
        {
          id: "slow",
          startTimeout: 50,
          start: async () => {
            await new Promise((resolve) => setTimeout(resolve, 150));
            const handle = await inner.start();
            arrive();
            return handle;
          },
        },
      ],
    });
    const err: unknown = await sup.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    // Failed at the timeout, not when the slow start finally came back
    // (an order, so a loaded machine cannot make it flaky).
    expect(lateArrived).toBe(false);
    expect(isVtxError(err, SupervisorCode.START)).toBe(true);
    expect(isVtxError((err as VtxError).cause, SupervisorCode.START_TIMEOUT)).toBe(true);
    await within(arrived, 2000, "the late start");
    await within(lab.live("slow").exited, 1000, "the late child to be killed");
    expect(lab.live("slow").killCalls).toBe(1);
  });

  it("refuses a second start(), and start() after stop()", async () => {
    sup = new Supervisor();
    await sup.start();
    await expect(sup.start()).rejects.toSatisfy(hasCode(SupervisorCode.ALREADY_STARTED));
    await sup.stop();
    await expect(sup.start()).rejects.toSatisfy(hasCode(SupervisorCode.NOT_RUNNING));
  });

  it("stops at once when stop() comes before start()", async () => {
    sup = new Supervisor({ children: [new ChildLab().spec("a")] });
    await within(sup.stop(), 100, "stop");
    expect(await sup.stopped).toEqual({ reason: "normal" });
  });

  it("validates options and specs with VTX_SUPERVISOR_BAD_SPEC", () => {
    const lab = new ChildLab();
    const bad = [
      () => new Supervisor({ intensity: -1 }),
      () => new Supervisor({ intensity: 1.5 }),
      () => new Supervisor({ period: 0 }),
      () => new Supervisor({ strategy: "simple_one_for_one" as never }),
      () => new Supervisor({ restartDelay: -5 }),
      () => new Supervisor({ children: [lab.spec("a"), lab.spec("a")] }),
      () => new Supervisor({ children: [{ ...lab.spec("a"), shutdown: -1 }] }),
      () => new Supervisor({ children: [{ ...lab.spec("a"), restart: "sometimes" as never }] }),
      () => new Supervisor({ children: [{ ...lab.spec("a"), id: "" }] }),
      () => new Supervisor({ children: [{ ...lab.spec("a"), startTimeout: 0 }] }),
    ];
    for (const make of bad) expect(make).toThrow(expect.objectContaining({ code: SupervisorCode.BAD_SPEC }));
  });

  it("startChild adds and starts; refuses a duplicate id; does not keep a child whose start failed", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ children: [lab.spec("a")] });
    await sup.start();
    await sup.startChild(lab.spec("b", { restart: "transient" }));
    expect(sup.whichChildren().map((c) => [c.id, c.running])).toEqual([
      ["a", true],
      ["b", true],
    ]);
    await expect(sup.startChild(lab.spec("b"))).rejects.toSatisfy(
      (e) => isVtxError(e, SupervisorCode.DUPLICATE_CHILD) && (e.detail as { running: boolean }).running,
    );
    await expect(sup.startChild(lab.spec("c", { failStarts: 1 }))).rejects.toSatisfy(hasCode(SupervisorCode.CHILD_START));
    expect(sup.whichChildren().map((c) => c.id)).toEqual(["a", "b"]);
    await expect(sup.startChild({ id: "", start: () => lab.spec("x").start() })).rejects.toSatisfy(hasCode(SupervisorCode.BAD_SPEC));
  });

  it("terminateChild keeps the spec; restartChild starts it again; deleteChild forgets it", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ children: [lab.spec("a"), lab.spec("b")] });
    await sup.start();
    await sup.terminateChild("b");
    expect(sup.whichChildren()).toEqual([
      { id: "a", running: true, restarting: false, restarts: 0, restart: "permanent" },
      { id: "b", running: false, restarting: false, restarts: 0, restart: "permanent" },
    ]);
    await sup.terminateChild("b"); // not running: no-op
    await sup.restartChild("b");
    expect(lab.starts("b")).toBe(2);
    await expect(sup.restartChild("b")).rejects.toSatisfy(hasCode(SupervisorCode.CHILD_RUNNING));
    await expect(sup.deleteChild("b")).rejects.toSatisfy(hasCode(SupervisorCode.CHILD_RUNNING));
    await sup.terminateChild("b");
    await sup.deleteChild("b");
    expect(sup.whichChildren().map((c) => c.id)).toEqual(["a"]);
    for (const call of [() => sup!.terminateChild("zz"), () => sup!.restartChild("zz"), () => sup!.deleteChild("zz")]) {
      await expect(call()).rejects.toSatisfy(hasCode(SupervisorCode.NO_CHILD));
    }
  });

  it("terminateChild of a temporary child forgets it", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ children: [lab.spec("t", { restart: "temporary" })] });
    await sup.start();
    await sup.terminateChild("t");
    expect(sup.whichChildren()).toEqual([]);
  });

  it("does not restart a child stopped by terminateChild", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ intensity: 0, children: [lab.spec("a")] });
    await sup.start();
    await sup.terminateChild("a");
    await sup.sync();
    expect(lab.starts("a")).toBe(1);
    // Not counted as a restart either: intensity 0 would have stopped the tree, yet it still takes calls.
    await sup.restartChild("a");
    expect(sup.whichChildren()).toEqual([{ id: "a", running: true, restarting: false, restarts: 0, restart: "permanent" }]);
  });

  it("ignores a stale exit: an instance replaced by a restart exiting late does not trigger another restart", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ strategy: "one_for_all", intensity: 5, children: [lab.spec("a"), lab.spec("late", { onStop: "ignore", shutdown: "brutal_kill" })] });
    await sup.start();
    const firstLate = lab.live("late");
    const restarted = new Promise<void>((resolve) => sup!.on("child-restarted", ({ id }) => id === "late" && resolve()));
    lab.live("a").crash();
    await within(restarted, 2000, "restart of late");
    firstLate.crash(); // already killed and settled: nothing happens
    await sup.sync();
    expect(lab.starts("late")).toBe(2);
    expect(lab.starts("a")).toBe(2);
  });

  it("keeps working when an event listener throws, and reports it as a process warning", async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    try {
      const lab = new ChildLab();
      sup = new Supervisor({ intensity: 3, children: [lab.spec("a")] });
      const off = sup.on("child-exited", () => {
        throw new Error("listener bug");
      });
      const restarted = new Promise<void>((resolve) => sup!.on("child-restarted", () => resolve()));
      await sup.start();
      lab.live("a").crash();
      await within(restarted, 2000, "restart despite a throwing listener");
      // process.emitWarning emits on the next tick; a few turns are plenty.
      for (let i = 0; i < 10 && warnings.length === 0; i++) await afterPendingTasks();
      expect(warnings[0]).toMatchObject({ code: "VTX_LISTENER_ERROR" });
      off();
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("supervises a supervisor: an inner tree that exceeds its intensity is restarted by the outer one", async () => {
    const lab = new ChildLab();
    let inners = 0;
    sup = new Supervisor({
      name: "outer",
      intensity: 3,
      children: [
        {
          id: "inner",
          shutdown: "infinity",
          start: () => {
            inners++;
            return new Supervisor({ name: `inner${inners}`, intensity: 0, children: [lab.spec("w")] }).asChild();
          },
        },
      ],
    });
    const exits: string[] = [];
    sup.on("child-exited", ({ id, exit }) => exits.push(`${id}:${exit.kind === "error" ? exit.error.code : exit.kind}`));
    const restarted = new Promise<void>((resolve) => sup!.on("child-restarted", () => resolve()));
    await sup.start();
    lab.live("w").crash();
    await within(restarted, 2000, "the outer supervisor to restart the inner one");
    expect(exits).toEqual(["inner:VTX_SUPERVISOR_INTENSITY"]);
    expect(inners).toBe(2);
    expect(lab.starts("w")).toBe(2);
    await within(sup.stop(), 2000, "stop the tree");
    expect(lab.entries("stop").at(-1)).toBe("stop:w#2");
  });
});
