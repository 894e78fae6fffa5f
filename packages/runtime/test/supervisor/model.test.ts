import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Supervisor, type RestartKind, type Strategy } from "../../src/supervisor/index.js";
import { nextEvent, within } from "./helpers/bounded.js";
import { ChildLab } from "./helpers/child-lab.js";
import { afterPendingTasks, watchUnhandled } from "./helpers/unhandled.js";

/**
 * Model-based check: random child sets, strategies and intensities, driven
 * by random exits and API calls, compared after every step with a direct
 * transcription of the OTP rules (supervisor.erl: do_restart/3,
 * restart/3, terminate_children/2). The period is long enough that no
 * restart leaves the window, so the intensity is a plain count here; the
 * window itself is checked in restart-intensity.test.ts.
 */

interface ModelChild {
  id: string;
  kind: RestartKind;
  running: boolean;
  starts: number;
}

/** The instance a crash hit: its exit only counts if that instance is still the running one when handled. */
const instanceOf = (c: ModelChild) => `${c.id}#${c.starts}`;

class Model {
  restarts = 0;
  stopped = false;
  constructor(
    readonly strategy: Strategy,
    readonly intensity: number,
    public children: ModelChild[],
  ) {}

  exit(id: string, abnormal: boolean): void {
    const c = this.children.find((x) => x.id === id)!;
    c.running = false;
    if (c.kind === "temporary") {
      this.children = this.children.filter((x) => x !== c);
      return;
    }
    if (c.kind === "transient" && !abnormal) return;
    this.restarts++;
    if (this.restarts > this.intensity) {
      for (const x of this.children) x.running = false;
      this.stopped = true;
      return;
    }
    const i = this.children.indexOf(c);
    const group = this.strategy === "one_for_one" ? [c] : this.strategy === "one_for_all" ? [...this.children] : this.children.slice(i);
    for (const g of group) {
      g.running = false;
      if (g.kind === "temporary") this.children = this.children.filter((x) => x !== g);
      else {
        g.running = true;
        g.starts++;
      }
    }
  }

  terminate(id: string): void {
    const c = this.children.find((x) => x.id === id)!;
    c.running = false;
    if (c.kind === "temporary") this.children = this.children.filter((x) => x !== c);
  }

  restartChild(id: string): void {
    const c = this.children.find((x) => x.id === id)!;
    c.running = true;
    c.starts++;
  }
}

type Step = { op: "crash" | "finish" | "terminate" | "restartChild" | "crashMany"; pick: number };

const kindArb = fc.constantFrom<RestartKind>("permanent", "transient", "temporary");
const stepArb: fc.Arbitrary<Step> = fc.record({
  op: fc.constantFrom("crash", "finish", "terminate", "restartChild", "crashMany"),
  pick: fc.nat(100),
});

describe("supervisor against an OTP model", () => {
  it("keeps the same children running, started the same number of times, and stops at the same step", async () => {
    const unhandled = watchUnhandled();
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom<Strategy>("one_for_one", "one_for_all", "rest_for_one"),
          fc.integer({ min: 0, max: 6 }),
          fc.array(kindArb, { minLength: 1, maxLength: 5 }),
          fc.array(stepArb, { maxLength: 15 }),
          async (strategy, intensity, kinds, steps) => {
            const lab = new ChildLab();
            const ids = kinds.map((_, i) => `c${i}`);
            const sup = new Supervisor({ strategy, intensity, period: 3_600_000, children: kinds.map((k, i) => lab.spec(ids[i]!, { restart: k })) });
            const model = new Model(
              strategy,
              intensity,
              kinds.map((k, i) => ({ id: ids[i]!, kind: k, running: true, starts: 1 })),
            );
            await sup.start();
            try {
              for (const step of steps) {
                if (model.stopped) break;
                const running = model.children.filter((c) => c.running);
                const idle = model.children.filter((c) => !c.running);
                if (step.op === "crashMany") {
                  // Several children crash in the same tick; their exits are handled one after the
                  // other, and an exit whose instance a sibling's restart already replaced is stale.
                  const hit = running.filter((_, i) => (step.pick >> i) & 1 || i === 0);
                  const instances = hit.map(instanceOf);
                  for (const c of hit) lab.live(c.id).crash();
                  // Exits are queued one macrotask after they happen: two hops, then a barrier.
                  await afterPendingTasks();
                  await afterPendingTasks();
                  await sup.sync();
                  for (const [i, c] of hit.entries()) {
                    if (model.stopped) break;
                    const now = model.children.find((x) => x.id === c.id);
                    if (now?.running && instanceOf(now) === instances[i]) model.exit(c.id, true);
                  }
                } else if (step.op === "crash" || step.op === "finish") {
                  const c = running[step.pick % Math.max(1, running.length)];
                  if (c === undefined) continue;
                  const handled = nextEvent(sup, "child-exited", (e) => e.id === c.id && e.initiatedBy === "child");
                  if (step.op === "crash") lab.live(c.id).crash();
                  else lab.live(c.id).finish();
                  await handled;
                  await sup.sync();
                  model.exit(c.id, step.op === "crash");
                } else if (step.op === "terminate") {
                  const c = model.children[step.pick % Math.max(1, model.children.length)];
                  if (c === undefined) continue;
                  await sup.terminateChild(c.id);
                  model.terminate(c.id);
                } else {
                  const c = idle[step.pick % Math.max(1, idle.length)];
                  if (c === undefined) continue;
                  await sup.restartChild(c.id);
                  model.restartChild(c.id);
                }
                if (model.stopped) {
                  expect((await within(sup.stopped, 1000, "intensity stop")).reason).toBe("VTX_SUPERVISOR_INTENSITY");
                }
                expect(sup.whichChildren().map((c) => [c.id, c.running])).toEqual(model.children.map((c) => [c.id, c.running]));
                for (const c of model.children) expect(lab.starts(c.id)).toBe(c.starts);
              }
            } finally {
              await within(sup.stop(), 2000, "stop");
            }
          },
        ),
        { numRuns: 300 },
      );
      await afterPendingTasks();
      expect(unhandled.seen).toEqual([]);
    } finally {
      unhandled.dispose();
    }
  });
});
