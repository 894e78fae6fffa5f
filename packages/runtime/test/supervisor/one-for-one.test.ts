import { afterEach, describe, expect, it } from "vitest";
import { Supervisor } from "../../src/supervisor/index.js";
import { nextEvent, within } from "./helpers/bounded.js";
import { ChildLab } from "./helpers/child-lab.js";

describe("one_for_one", () => {
  let sup: Supervisor | undefined;
  afterEach(async () => {
    await within(sup?.stop() ?? Promise.resolve(), 5000, "supervisor stop in afterEach");
    sup = undefined;
  });

  it("starts children in the given order", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ children: [lab.spec("a"), lab.spec("b"), lab.spec("c")] });
    await sup.start();
    expect(lab.entries("start")).toEqual(["start:a#1", "start:b#1", "start:c#1"]);
    expect(sup.whichChildren().map((c) => [c.id, c.running, c.restarts])).toEqual([
      ["a", true, 0],
      ["b", true, 0],
      ["c", true, 0],
    ]);
  });

  it("restarts only the child that crashed, leaving its siblings untouched", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ strategy: "one_for_one", intensity: 5, children: [lab.spec("a"), lab.spec("b"), lab.spec("c")] });
    await sup.start();
    const restarted = nextEvent(sup, "child-restarted");
    lab.live("b").crash();
    expect(await restarted).toEqual({ id: "b", restarts: 1, cause: "b" });
    expect(lab.entries("start", "stop", "kill").slice(3)).toEqual(["start:b#2"]);
    expect(lab.live("a").stopCalls + lab.live("c").stopCalls).toBe(0);
    expect(sup.whichChildren().map((c) => [c.id, c.running, c.restarts])).toEqual([
      ["a", true, 0],
      ["b", true, 1],
      ["c", true, 0],
    ]);
  });

  it("stops children in reverse start order on stop()", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ children: [lab.spec("a"), lab.spec("b"), lab.spec("c")] });
    await sup.start();
    await within(sup.stop(), 2000, "stop");
    expect(lab.entries("stop")).toEqual(["stop:c#1", "stop:b#1", "stop:a#1"]);
    expect(await sup.stopped).toEqual({ reason: "normal" });
    expect(sup.whichChildren().every((c) => !c.running)).toBe(true);
  });
});
