import { afterEach, describe, expect, it } from "vitest";
import { Supervisor, SupervisorCode, type SupervisorEvents } from "../../src/supervisor/index.js";
import { nextEvent, within } from "./helpers/bounded.js";
import { ChildLab } from "./helpers/child-lab.js";

type Exited = SupervisorEvents["child-exited"];

describe("child shutdown", () => {
  let sup: Supervisor | undefined;
  afterEach(async () => {
    await within(sup?.stop() ?? Promise.resolve(), 10_000, "supervisor stop in afterEach");
    sup = undefined;
  });

  async function terminate(s: Supervisor, id: string, bound: number): Promise<{ exited: Exited; ms: number }> {
    const exited = nextEvent(s, "child-exited", (e) => e.id === id, bound);
    const t0 = performance.now();
    await within(s.terminateChild(id), bound, `terminateChild(${id})`);
    return { exited: await exited, ms: performance.now() - t0 };
  }

  it("with a timeout, kills a child that ignores stop() once the timeout is over", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ children: [lab.spec("deaf", { onStop: "ignore", shutdown: 150 })] });
    await sup.start();
    const { exited, ms } = await terminate(sup, "deaf", 2000);
    expect(lab.entries("stop", "kill")).toEqual(["stop:deaf#1", "kill:deaf#1"]);
    expect(exited).toMatchObject({ initiatedBy: "supervisor", killed: true });
    // Timers never fire early (a 1 ms rounding margin); the kill follows the timeout promptly.
    expect(ms).toBeGreaterThanOrEqual(149);
    expect(ms).toBeLessThan(1000);
  });

  it("with a timeout, does not kill a child that stops within it", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ children: [lab.spec("slow", { onStop: { afterMs: 50 }, shutdown: 2000 })] });
    await sup.start();
    const { exited, ms } = await terminate(sup, "slow", 3000);
    expect(lab.live("slow").killCalls).toBe(0);
    expect(exited).toMatchObject({ exit: { kind: "shutdown" }, killed: false });
    expect(ms).toBeLessThan(1500);
  });

  it("brutal_kill kills at once without asking", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ children: [lab.spec("b", { onStop: "ignore", shutdown: "brutal_kill" })] });
    await sup.start();
    const { exited, ms } = await terminate(sup, "b", 2000);
    expect(lab.entries("stop", "kill")).toEqual(["kill:b#1"]);
    expect(exited).toMatchObject({ killed: true });
    expect(ms).toBeLessThan(500);
  });

  it("infinity waits for a slow stop however long it takes, and never kills", async () => {
    const lab = new ChildLab();
    // The stop takes 6x killTimeout: with infinity no bound applies at all.
    sup = new Supervisor({ killTimeout: 50, children: [lab.spec("inf", { onStop: { afterMs: 300 }, shutdown: "infinity" })] });
    await sup.start();
    const { exited, ms } = await terminate(sup, "inf", 3000);
    expect(ms).toBeGreaterThanOrEqual(299);
    expect(lab.live("inf").killCalls).toBe(0);
    expect(exited).toMatchObject({ exit: { kind: "shutdown" }, killed: false });
  });

  it("gives up on a child that ignores stop and has no kill(), after shutdown + killTimeout", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ killTimeout: 100, children: [lab.spec("stuck", { onStop: "ignore", killable: false, shutdown: 100 })] });
    await sup.start();
    const { exited, ms } = await terminate(sup, "stuck", 3000);
    // stop() is asked again in place of a kill.
    expect(lab.entries("stop", "kill")).toEqual(["stop:stuck#1", "stop:stuck#1"]);
    expect(exited).toMatchObject({ killed: true, exit: { kind: "error", error: { code: SupervisorCode.KILLED } } });
    expect(ms).toBeGreaterThanOrEqual(198);
    expect(sup.whichChildren()[0]?.running).toBe(false);
  });

  it("gives up on a child whose kill() does not end it, after killTimeout", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ killTimeout: 100, children: [lab.spec("zombie", { onStop: "ignore", killIgnored: true, shutdown: "brutal_kill" })] });
    await sup.start();
    const { exited, ms } = await terminate(sup, "zombie", 3000);
    expect(exited).toMatchObject({ killed: true, exit: { kind: "error", error: { code: SupervisorCode.KILLED } } });
    expect(ms).toBeGreaterThanOrEqual(99);
  });

  it("honours each child's shutdown when the supervisor stops", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({
      children: [lab.spec("polite"), lab.spec("deaf", { onStop: "ignore", shutdown: 50 }), lab.spec("brutal", { shutdown: "brutal_kill" })],
    });
    await sup.start();
    await within(sup.stop(), 2000, "stop");
    expect(lab.entries("stop", "kill")).toEqual(["kill:brutal#1", "stop:deaf#1", "kill:deaf#1", "stop:polite#1"]);
  });

  it("honours a sibling's shutdown timeout during a one_for_all restart", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ strategy: "one_for_all", intensity: 3, children: [lab.spec("a"), lab.spec("deaf", { onStop: "ignore", shutdown: 50 })] });
    await sup.start();
    const restartedDeaf = nextEvent(sup, "child-restarted", (e) => e.id === "deaf");
    lab.live("a").crash();
    await restartedDeaf;
    expect(lab.journal.slice(2)).toEqual(["exit:a#1:error", "stop:deaf#1", "kill:deaf#1", "exit:deaf#1:error", "start:a#2", "start:deaf#2"]);
  });
});
