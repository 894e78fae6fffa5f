import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isVtxError } from "../../src/errors.js";
import { Supervisor, SupervisorCode } from "../../src/supervisor/index.js";
import { nthEvent, recordEvents, within } from "./helpers/bounded.js";
import { ChildLab } from "./helpers/child-lab.js";
import { afterPendingTasks, watchUnhandled } from "./helpers/unhandled.js";

describe("restart intensity", () => {
  let unhandled: ReturnType<typeof watchUnhandled>;
  let sup: Supervisor | undefined;
  beforeEach(() => {
    unhandled = watchUnhandled();
  });
  afterEach(async () => {
    await within(sup?.stop() ?? Promise.resolve(), 5000, "supervisor stop in afterEach");
    sup = undefined;
    unhandled.dispose();
  });

  it("stops the whole tree, in reverse start order, after more than `intensity` restarts within `period`", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({
      name: "drivers",
      intensity: 2,
      period: 60_000,
      children: [lab.spec("a"), lab.spec("loop", { crashOnStart: true }), lab.spec("c")],
    });
    const events = recordEvents(sup);
    await sup.start();
    const stopped = await within(sup.stopped, 2000, "the supervisor to stop by itself");

    expect(stopped.reason).toBe("VTX_SUPERVISOR_INTENSITY");
    if (stopped.reason === "normal") throw new Error("unreachable");
    expect(stopped.error.code).toBe(SupervisorCode.INTENSITY);
    expect(stopped.error.detail).toMatchObject({ id: "loop", restarts: 3, intensity: 2, period: 60_000 });
    // Initial start + 2 restarts allowed; the 3rd crash is one too many.
    expect(lab.starts("loop")).toBe(3);
    expect(events.filter((e) => e.startsWith("restarted:"))).toEqual(["restarted:loop", "restarted:loop"]);
    expect(events.slice(-4)).toEqual(["intensity-exceeded:loop", "exited:c:supervisor", "exited:a:supervisor", "stopped:VTX_SUPERVISOR_INTENSITY"]);
    expect(lab.entries("stop")).toEqual(["stop:c#1", "stop:a#1"]);
    expect(sup.whichChildren().some((c) => c.running)).toBe(false);

    await afterPendingTasks();
    expect(unhandled.seen).toEqual([]);
  });

  it("rejects API calls once stopped by intensity, and stop() then resolves at once", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ intensity: 0, children: [lab.spec("x", { crashOnStart: true })] });
    await sup.start();
    await within(sup.stopped, 2000, "intensity stop");
    await expect(sup.startChild(lab.spec("y"))).rejects.toSatisfy((e) => isVtxError(e, SupervisorCode.NOT_RUNNING));
    await within(sup.stop(), 100, "stop() of a stopped supervisor");
    expect(await sup.stopped).toMatchObject({ reason: "VTX_SUPERVISOR_INTENSITY" });
  });

  it("with intensity 0, the first exit that would be restarted stops the tree", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ intensity: 0, children: [lab.spec("a")] });
    await sup.start();
    lab.live("a").crash();
    expect((await within(sup.stopped, 2000, "stop")).reason).toBe("VTX_SUPERVISOR_INTENSITY");
    expect(lab.starts("a")).toBe(1);
  });

  it("does not stop when the same number of restarts is spread over more than `period`", async () => {
    const lab = new ChildLab();
    const period = 100;
    // One crash every >= 150 ms: never two restarts in any 100 ms window.
    sup = new Supervisor({ intensity: 1, period, children: [lab.spec("slow", { crashAfterMs: 150 })] });
    let exceeded = false;
    sup.on("intensity-exceeded", () => (exceeded = true));
    await sup.start();
    await nthEvent(sup, "child-restarted", 4, () => true, 3000);
    expect(exceeded).toBe(false);
    expect(sup.whichChildren()).toEqual([{ id: "slow", running: true, restarting: false, restarts: 4, restart: "permanent" }]);
  });

  it("does stop when those restarts come faster than `period` allows", async () => {
    const lab = new ChildLab();
    // Same child and intensity, but a window wide enough to hold two restarts.
    sup = new Supervisor({ intensity: 1, period: 10_000, children: [lab.spec("slow", { crashAfterMs: 150 })] });
    await sup.start();
    const stopped = await within(sup.stopped, 3000, "intensity stop");
    expect(stopped.reason).toBe("VTX_SUPERVISOR_INTENSITY");
    expect(lab.starts("slow")).toBe(2);
  });

  it("counts a restart whose start fails, and retries until intensity is exceeded (OTP try_again)", async () => {
    const lab = new ChildLab();
    const inner = lab.spec("b");
    let attempts = 0;
    sup = new Supervisor({
      intensity: 3,
      period: 60_000,
      children: [
        lab.spec("a"),
        {
          id: "b",
          // The first start works; every restart fails (a port that stays busy).
          start: () => (++attempts === 1 ? inner.start() : Promise.reject(new Error("EADDRINUSE"))),
        },
      ],
    });
    const events = recordEvents(sup);
    await sup.start();
    lab.live("b").crash();
    const stopped = await within(sup.stopped, 2000, "intensity stop");
    expect(stopped.reason).toBe("VTX_SUPERVISOR_INTENSITY");
    // 1 restart for the crash + 2 more after failed starts = the 3 allowed; the 4th is one too many.
    expect(events.filter((e) => e === "start-failed:b")).toHaveLength(3);
    expect(attempts).toBe(4);
    expect(events.slice(-3)).toEqual(["intensity-exceeded:b", "exited:a:supervisor", "stopped:VTX_SUPERVISOR_INTENSITY"]);
    await afterPendingTasks();
    expect(unhandled.seen).toEqual([]);
  });

  it("succeeds when a failed restart start is followed by a successful one within intensity", async () => {
    const lab = new ChildLab();
    let attempts = 0;
    const inner = lab.spec("a");
    sup = new Supervisor({
      intensity: 5,
      children: [
        {
          id: "a",
          start: () => {
            attempts++;
            // First start works; the next two (restarts) fail; then it works again.
            if (attempts === 2 || attempts === 3) throw new Error("port busy");
            return inner.start();
          },
        },
      ],
    });
    const events = recordEvents(sup);
    await sup.start();
    const restarted = nthEvent(sup, "child-restarted", 1);
    lab.live("a").crash();
    expect(await restarted).toMatchObject({ id: "a", restarts: 1 });
    expect(events.filter((e) => e.startsWith("start-failed"))).toHaveLength(2);
    expect(attempts).toBe(4);
  });
});
