import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RestartIntensity } from "../../src/supervisor/index.js";

/** A clock the test sets: the window arithmetic is checked on exact times. */
function clock(): { now: () => number; set(t: number): void } {
  let t = 0;
  return { now: () => t, set: (v) => (t = v) };
}

describe("RestartIntensity", () => {
  it("allows `intensity` restarts within the period and refuses the next", () => {
    const c = clock();
    const r = new RestartIntensity(3, 1000, c.now);
    for (const at of [0, 100, 200]) {
      c.set(at);
      expect(r.record("a").exceeded).toBe(false);
    }
    c.set(300);
    expect(r.record("a")).toEqual({ exceeded: true, inWindow: 4, childInWindow: 4 });
  });

  it("forgets a restart once it is `period` ms old", () => {
    const c = clock();
    const r = new RestartIntensity(1, 1000, c.now);
    c.set(0);
    expect(r.record("a").exceeded).toBe(false);
    c.set(999);
    expect(r.record("a").exceeded).toBe(true);

    const r2 = new RestartIntensity(1, 1000, c.now);
    c.set(0);
    r2.record("a");
    c.set(1000);
    expect(r2.record("a")).toEqual({ exceeded: false, inWindow: 1, childInWindow: 1 });
  });

  it("with intensity 0 refuses the first restart", () => {
    expect(new RestartIntensity(0, 1000, () => 0).record("a").exceeded).toBe(true);
  });

  it("counts per child for backoff, and all children for the limit", () => {
    const r = new RestartIntensity(5, 1000, () => 0);
    r.record("a");
    r.record("b");
    expect(r.record("a")).toEqual({ exceeded: false, inWindow: 3, childInWindow: 2 });
  });

  it("agrees with a direct count over any history (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 1, max: 500 }),
        fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 40 }),
        (intensity, period, gaps) => {
          const c = clock();
          const r = new RestartIntensity(intensity, period, c.now);
          const times: number[] = [];
          let t = 0;
          for (const gap of gaps) {
            t += gap;
            c.set(t);
            times.push(t);
            const verdict = r.record("x");
            const inWindow = times.filter((x) => t - x < period).length;
            // The supervisor stops at the first `exceeded`, so only check up to there.
            expect(verdict.exceeded).toBe(inWindow > intensity);
            if (verdict.exceeded) return;
            expect(verdict.inWindow).toBe(inWindow);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
