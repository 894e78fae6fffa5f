import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { backoffDelay } from "../src/stream/backoff.js";

describe("reconnect backoff", () => {
  it("doubles from the initial interval up to the maximum, with ±25 % jitter", () => {
    const mid = () => 0.5; // no jitter
    expect([0, 1, 2, 3, 4, 5, 10].map((a) => backoffDelay(a, 100, 2000, mid))).toEqual([100, 200, 400, 800, 1600, 2000, 2000]);
    expect(backoffDelay(0, 100, 2000, () => 0)).toBe(75);
    expect(backoffDelay(0, 100, 2000, () => 0.999999)).toBe(125);
  });

  it("stays within [0.75 × base, 1.25 × max] for any attempt and random source", () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 100_000 }), fc.double({ min: 0, max: 0.9999, noNaN: true }), (attempt, initial, extra, r) => {
        const max = initial + extra;
        const d = backoffDelay(attempt, initial, max, () => r);
        expect(d).toBeGreaterThanOrEqual(Math.floor(0.75 * Math.min(initial, max)));
        expect(d).toBeLessThanOrEqual(Math.ceil(1.25 * max));
      }),
    );
  });
});
