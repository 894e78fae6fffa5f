import { afterEach, describe, expect, it } from "vitest";
import { Supervisor, type SupervisorEvents } from "../../src/supervisor/index.js";
import { nextEvent, within } from "./helpers/bounded.js";
import { ChildLab } from "./helpers/child-lab.js";

type Exited = SupervisorEvents["child-exited"];

describe("restart kinds", () => {
  let sup: Supervisor | undefined;
  afterEach(async () => {
    await within(sup?.stop() ?? Promise.resolve(), 5000, "supervisor stop in afterEach");
    sup = undefined;
  });

  /** Drives one exit of `id` and tells whether the supervisor restarted it. */
  async function exitAndObserve(s: Supervisor, lab: ChildLab, id: string, how: "crash" | "finish"): Promise<boolean> {
    const startsBefore = lab.starts(id);
    const exited = nextEvent(s, "child-exited", (e: Exited) => e.id === id && e.initiatedBy === "child");
    if (how === "crash") lab.live(id).crash();
    else lab.live(id).finish();
    await exited;
    // The restart (if any) happens in the same step as the exit event; sync() waits for that step to end.
    await s.sync();
    return lab.starts(id) > startsBefore;
  }

  it("restarts a permanent child after an error exit", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ intensity: 5, children: [lab.spec("p", { restart: "permanent" })] });
    await sup.start();
    expect(await exitAndObserve(sup, lab, "p", "crash")).toBe(true);
  });

  it("restarts a permanent child after a normal exit too", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ intensity: 5, children: [lab.spec("p", { restart: "permanent" })] });
    await sup.start();
    expect(await exitAndObserve(sup, lab, "p", "finish")).toBe(true);
    expect(sup.whichChildren()).toEqual([{ id: "p", running: true, restarting: false, restarts: 1, restart: "permanent" }]);
  });

  it("restarts a transient child after an error exit", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ intensity: 5, children: [lab.spec("t", { restart: "transient" })] });
    await sup.start();
    expect(await exitAndObserve(sup, lab, "t", "crash")).toBe(true);
  });

  it("does not restart a transient child after a normal exit, but keeps its spec for restartChild", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ intensity: 5, children: [lab.spec("t", { restart: "transient" })] });
    await sup.start();
    expect(await exitAndObserve(sup, lab, "t", "finish")).toBe(false);
    expect(sup.whichChildren()).toEqual([{ id: "t", running: false, restarting: false, restarts: 0, restart: "transient" }]);
    await sup.restartChild("t");
    expect(lab.starts("t")).toBe(2);
    expect(sup.whichChildren()[0]?.running).toBe(true);
  });

  it("never restarts a temporary child, and forgets it once it exited", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ intensity: 5, children: [lab.spec("keep"), lab.spec("tmp", { restart: "temporary" })] });
    await sup.start();
    expect(await exitAndObserve(sup, lab, "tmp", "crash")).toBe(false);
    expect(sup.whichChildren().map((c) => c.id)).toEqual(["keep"]);
  });

  it("does not count exits that are not restarted towards the intensity", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ intensity: 0, children: [lab.spec("t", { restart: "transient" }), lab.spec("tmp", { restart: "temporary" })] });
    await sup.start();
    expect(await exitAndObserve(sup, lab, "t", "finish")).toBe(false);
    expect(await exitAndObserve(sup, lab, "tmp", "crash")).toBe(false);
    expect(sup.whichChildren()).toEqual([{ id: "t", running: false, restarting: false, restarts: 0, restart: "transient" }]);
    // Still running: an API call is accepted.
    await sup.restartChild("t");
  });
});
