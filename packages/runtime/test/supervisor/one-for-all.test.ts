import { afterEach, describe, expect, it } from "vitest";
import { Supervisor } from "../../src/supervisor/index.js";
import { nthEvent, within } from "./helpers/bounded.js";
import { ChildLab } from "./helpers/child-lab.js";

describe("one_for_all", () => {
  let sup: Supervisor | undefined;
  afterEach(async () => {
    await within(sup?.stop() ?? Promise.resolve(), 5000, "supervisor stop in afterEach");
    sup = undefined;
  });

  it("stops the siblings in reverse start order, then starts all children in start order", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ strategy: "one_for_all", intensity: 5, children: [lab.spec("a"), lab.spec("b"), lab.spec("c"), lab.spec("d")] });
    await sup.start();
    const allRestarted = nthEvent(sup, "child-restarted", 4);
    lab.live("b").crash();
    await allRestarted;
    expect(lab.journal.slice(4)).toEqual([
      "exit:b#1:error",
      "stop:d#1",
      "exit:d#1:shutdown",
      "stop:c#1",
      "exit:c#1:shutdown",
      "stop:a#1",
      "exit:a#1:shutdown",
      "start:a#2",
      "start:b#2",
      "start:c#2",
      "start:d#2",
    ]);
    expect(sup.whichChildren().map((c) => [c.id, c.running, c.restarts])).toEqual([
      ["a", true, 1],
      ["b", true, 1],
      ["c", true, 1],
      ["d", true, 1],
    ]);
  });

  it("names the crashed child as the cause of every sibling's restart", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ strategy: "one_for_all", intensity: 5, children: [lab.spec("a"), lab.spec("b")] });
    await sup.start();
    const causes: string[] = [];
    sup.on("child-restarted", ({ id, cause }) => causes.push(`${id}<-${cause}`));
    const done = nthEvent(sup, "child-restarted", 2);
    lab.live("a").crash();
    await done;
    expect(causes).toEqual(["a<-a", "b<-a"]);
  });

  it("forgets a temporary sibling instead of restarting it", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({
      strategy: "one_for_all",
      intensity: 5,
      children: [lab.spec("a"), lab.spec("tmp", { restart: "temporary" }), lab.spec("c")],
    });
    await sup.start();
    const done = nthEvent(sup, "child-restarted", 2);
    lab.live("c").crash();
    await done;
    expect(lab.starts("tmp")).toBe(1);
    expect(lab.live("tmp").stopCalls).toBe(1);
    expect(sup.whichChildren().map((c) => c.id)).toEqual(["a", "c"]);
  });
});
