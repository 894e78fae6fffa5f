import { afterEach, describe, expect, it } from "vitest";
import { isVtxError } from "../../src/errors.js";
import { Supervisor, SupervisorCode, type RestartDelayInfo } from "../../src/supervisor/index.js";
import { nextEvent, nthEvent, recordEvents, within } from "./helpers/bounded.js";
import { ChildLab } from "./helpers/child-lab.js";

describe("restart delay (not OTP)", () => {
  let sup: Supervisor | undefined;
  afterEach(async () => {
    await within(sup?.stop() ?? Promise.resolve(), 5000, "supervisor stop in afterEach");
    sup = undefined;
  });

  it("pauses between stopping the group and starting it again, showing the children as restarting", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ strategy: "one_for_all", intensity: 3, restartDelay: 200, children: [lab.spec("a"), lab.spec("b")] });
    await sup.start();
    const exited = nextEvent(sup, "child-exited", (e) => e.id === "a" && e.initiatedBy === "supervisor");
    const restarted = nthEvent(sup, "child-restarted", 2, () => true, 3000);
    const t0 = performance.now();
    lab.live("b").crash();
    await exited;
    await sup.sync();
    expect(sup.whichChildren().map((c) => [c.id, c.running, c.restarting])).toEqual([
      ["a", false, true],
      ["b", false, true],
    ]);
    await restarted;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(199);
    expect(sup.whichChildren().map((c) => [c.id, c.running, c.restarting])).toEqual([
      ["a", true, false],
      ["b", true, false],
    ]);
  });

  it("handles other children's exits and API calls during the pause", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ intensity: 5, restartDelay: ({ id }) => (id === "slow" ? 10_000 : 0), children: [lab.spec("slow"), lab.spec("fast")] });
    await sup.start();
    const slowExited = nextEvent(sup, "child-exited", (e) => e.id === "slow");
    lab.live("slow").crash();
    await slowExited;
    const fastRestarted = nextEvent(sup, "child-restarted", (e) => e.id === "fast");
    lab.live("fast").crash();
    await fastRestarted;
    await sup.startChild(lab.spec("extra"));
    expect(sup.whichChildren().map((c) => [c.id, c.running, c.restarting])).toEqual([
      ["slow", false, true],
      ["fast", true, false],
      ["extra", true, false],
    ]);
  });

  it("stop() cancels a pending delayed restart at once", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ intensity: 3, restartDelay: 60_000, children: [lab.spec("a")] });
    await sup.start();
    const exited = nextEvent(sup, "child-exited");
    lab.live("a").crash();
    await exited;
    await within(sup.stop(), 500, "stop with a restart pending");
    expect(lab.starts("a")).toBe(1);
    expect(sup.whichChildren()).toEqual([{ id: "a", running: false, restarting: false, restarts: 0, restart: "permanent" }]);
  });

  it("restartChild starts a child waiting for its delayed restart now, and the delayed restart then does nothing", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ intensity: 3, restartDelay: 100, children: [lab.spec("a")] });
    const events = recordEvents(sup);
    await sup.start();
    const exited = nextEvent(sup, "child-exited");
    lab.live("a").crash();
    await exited;
    await sup.restartChild("a");
    expect(lab.starts("a")).toBe(2);
    // Wait past the delay: the delayed restart finds the child running and skips it.
    await new Promise((resolve) => setTimeout(resolve, 150));
    await sup.sync();
    expect(lab.starts("a")).toBe(2);
    expect(events.filter((e) => e.startsWith("restarted:"))).toEqual([]);
  });

  it("terminateChild cancels a child's pending restart, and deleteChild refuses a child still waiting", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ intensity: 3, restartDelay: 100, children: [lab.spec("a"), lab.spec("b")] });
    await sup.start();
    const exited = nextEvent(sup, "child-exited", (e) => e.id === "a");
    lab.live("a").crash();
    await exited;
    await expect(sup.deleteChild("a")).rejects.toSatisfy((e) => isVtxError(e, SupervisorCode.CHILD_RESTARTING));
    await sup.terminateChild("a");
    // Wait past the delay: nothing is awaitable when the cancelled restart correctly does nothing.
    await new Promise((resolve) => setTimeout(resolve, 150));
    await sup.sync();
    expect(lab.starts("a")).toBe(1);
    await sup.deleteChild("a");
    expect(sup.whichChildren().map((c) => c.id)).toEqual(["b"]);
  });

  it("gives a backoff function the attempt number within the intensity window", async () => {
    const lab = new ChildLab();
    const seen: RestartDelayInfo[] = [];
    sup = new Supervisor({
      intensity: 10,
      period: 60_000,
      restartDelay: (info) => {
        seen.push(info);
        return 5 * 2 ** (info.attempt - 1);
      },
      children: [lab.spec("a"), lab.spec("b")],
    });
    await sup.start();
    for (let i = 1; i <= 3; i++) {
      const r = nextEvent(sup, "child-restarted", (e) => e.id === "a");
      lab.live("a").crash();
      await r;
    }
    const r = nextEvent(sup, "child-restarted", (e) => e.id === "b");
    lab.live("b").crash();
    await r;
    expect(seen).toEqual([
      { id: "a", attempt: 1 },
      { id: "a", attempt: 2 },
      { id: "a", attempt: 3 },
      { id: "b", attempt: 1 },
    ]);
  });

  it("retries a start that keeps failing with the delay between attempts, until it works", async () => {
    const lab = new ChildLab();
    // The first start works; the next two fail (port still busy); then it works.
    let starts = 0;
    const inner = lab.spec("port");
    sup = new Supervisor({
      intensity: 5,
      restartDelay: 50,
      children: [{ id: "port", start: () => (++starts === 2 || starts === 3 ? Promise.reject(new Error("EADDRINUSE")) : inner.start()) }],
    });
    await sup.start();
    const restarted = nextEvent(sup, "child-restarted", () => true, 3000);
    const t0 = performance.now();
    lab.live("port").crash();
    await restarted;
    // Three restarts (the crash, then two failed starts), each after a 50 ms pause.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(149);
    expect(starts).toBe(4);
  });
});
