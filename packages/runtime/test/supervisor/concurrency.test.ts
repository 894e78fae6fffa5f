import { afterEach, describe, expect, it } from "vitest";
import { Supervisor } from "../../src/supervisor/index.js";
import { nextEvent, nthEvent, recordEvents, within } from "./helpers/bounded.js";
import { ChildLab } from "./helpers/child-lab.js";
import { afterPendingTasks, watchUnhandled } from "./helpers/unhandled.js";

/** Exits and calls that arrive while the supervisor is busy with a slow restart. */
describe("supervisor under concurrent exits and calls", () => {
  let sup: Supervisor | undefined;
  afterEach(async () => {
    await within(sup?.stop() ?? Promise.resolve(), 5000, "supervisor stop in afterEach");
    sup = undefined;
  });

  it("handles an exit that happens during a slow restart after it, in order", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({
      strategy: "rest_for_one",
      intensity: 5,
      children: [lab.spec("a"), lab.spec("b"), lab.spec("c", { onStop: { afterMs: 100 } })],
    });
    await sup.start();
    // b's restart first stops c, which takes 100 ms; a crashes meanwhile.
    // The restart begins in the same step as b's exit event, so c has been asked to stop by the time we see it.
    const bExited = nextEvent(sup, "child-exited", (e) => e.id === "b");
    lab.live("b").crash();
    await bExited;
    expect(lab.live("c").stopCalls).toBe(1);
    lab.live("a").crash();
    // b's restart (b, c), then a's (a, b, c).
    await nthEvent(sup, "child-restarted", 5, () => true, 3000);
    await sup.sync();
    expect(lab.entries("start").slice(3)).toEqual(["start:b#2", "start:c#2", "start:a#2", "start:b#3", "start:c#3"]);
    expect(sup.whichChildren().map((c) => [c.id, c.running, c.restarts])).toEqual([
      ["a", true, 1],
      ["b", true, 2],
      ["c", true, 2],
    ]);
  });

  it("stop() during a restart lets the restart finish stopping but starts nothing more", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({
      strategy: "one_for_all",
      intensity: 5,
      children: [lab.spec("a"), lab.spec("slow", { onStop: { afterMs: 100 } })],
    });
    const events = recordEvents(sup);
    await sup.start();
    const slowStopping = nextEvent(sup, "child-exited", (e) => e.id === "a");
    lab.live("a").crash();
    await slowStopping;
    const stopped = sup.stop();
    await within(stopped, 2000, "stop");
    expect(lab.starts("a")).toBe(1);
    expect(lab.starts("slow")).toBe(1);
    expect(events.filter((e) => e.startsWith("restarted:"))).toEqual([]);
    expect(events.at(-1)).toBe("stopped:normal");
  });

  it("runs API calls made during a restart after it, and never loses one", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ strategy: "one_for_all", intensity: 5, children: [lab.spec("a"), lab.spec("slow", { onStop: { afterMs: 50 } })] });
    await sup.start();
    const exited = nextEvent(sup, "child-exited", (e) => e.id === "a");
    lab.live("a").crash();
    await exited;
    // Queued behind the restart in progress.
    const calls = [sup.startChild(lab.spec("x")), sup.terminateChild("a"), sup.startChild(lab.spec("y"))];
    await within(Promise.all(calls), 2000, "the queued calls");
    expect(sup.whichChildren().map((c) => [c.id, c.running])).toEqual([
      ["a", false],
      ["slow", true],
      ["x", true],
      ["y", true],
    ]);
  });

  it("survives many children crashing at once, restarting each exactly once (one_for_one)", async () => {
    const unhandled = watchUnhandled();
    try {
      const lab = new ChildLab();
      const n = 200;
      const ids = Array.from({ length: n }, (_, i) => `w${i}`);
      sup = new Supervisor({ intensity: n, period: 60_000, children: ids.map((id) => lab.spec(id)) });
      await sup.start();
      const all = nthEvent(sup, "child-restarted", n, () => true, 5000);
      for (const id of ids) lab.live(id).crash();
      await all;
      await sup.sync();
      expect(ids.every((id) => lab.starts(id) === 2)).toBe(true);
      expect(sup.whichChildren().every((c) => c.running && c.restarts === 1)).toBe(true);
      await afterPendingTasks();
      expect(unhandled.seen).toEqual([]);
    } finally {
      unhandled.dispose();
    }
  });
});
