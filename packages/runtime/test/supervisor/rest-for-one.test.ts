import { afterEach, describe, expect, it } from "vitest";
import { Supervisor } from "../../src/supervisor/index.js";
import { nextEvent, nthEvent, within } from "./helpers/bounded.js";
import { ChildLab } from "./helpers/child-lab.js";

describe("rest_for_one", () => {
  let sup: Supervisor | undefined;
  afterEach(async () => {
    await within(sup?.stop() ?? Promise.resolve(), 5000, "supervisor stop in afterEach");
    sup = undefined;
  });

  it("restarts the crashed child and those started after it, leaving earlier ones running", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ strategy: "rest_for_one", intensity: 5, children: [lab.spec("a"), lab.spec("b"), lab.spec("c"), lab.spec("d")] });
    await sup.start();
    const done = nthEvent(sup, "child-restarted", 3);
    lab.live("b").crash();
    await done;
    expect(lab.journal.slice(4)).toEqual([
      "exit:b#1:error",
      "stop:d#1",
      "exit:d#1:shutdown",
      "stop:c#1",
      "exit:c#1:shutdown",
      "start:b#2",
      "start:c#2",
      "start:d#2",
    ]);
    expect(lab.live("a").instance).toBe(1);
    expect(lab.live("a").stopCalls).toBe(0);
    expect(sup.whichChildren().map((c) => [c.id, c.restarts])).toEqual([
      ["a", 0],
      ["b", 1],
      ["c", 1],
      ["d", 1],
    ]);
  });

  it("restarts only the last child when the last child crashes", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ strategy: "rest_for_one", intensity: 5, children: [lab.spec("a"), lab.spec("b"), lab.spec("c")] });
    await sup.start();
    const done = nextEvent(sup, "child-restarted");
    lab.live("c").crash();
    expect(await done).toMatchObject({ id: "c" });
    expect(lab.journal.slice(3)).toEqual(["exit:c#1:error", "start:c#2"]);
  });

  it("orders children added with startChild after the initial ones", async () => {
    const lab = new ChildLab();
    sup = new Supervisor({ strategy: "rest_for_one", intensity: 5, children: [lab.spec("a"), lab.spec("b")] });
    await sup.start();
    await sup.startChild(lab.spec("late"));
    const done = nthEvent(sup, "child-restarted", 3);
    lab.live("a").crash();
    await done;
    expect(lab.entries("stop", "start").slice(3)).toEqual(["stop:late#1", "stop:b#1", "start:a#2", "start:b#2", "start:late#2"]);
  });
});
