import { describe, expect, it } from "vitest";
import { SilenceWatch } from "../../src/stream/silence-watch.js";

describe("SilenceWatch", () => {
  it("drops a peer silent for longer than the timeout, on a tick that comes on time", () => {
    const w = new SilenceWatch(100, 400, 0);
    expect(w.tick(100, 0)).toBe(false);
    expect(w.tick(200, 0)).toBe(false);
    expect(w.tick(300, 0)).toBe(false);
    expect(w.tick(400, 0)).toBe(false); // exactly the timeout: not over it
    expect(w.tick(500, 0)).toBe(true);
    expect(w.tick(500, 450)).toBe(false); // heard lately
  });

  it("decides nothing on a tick that comes late (thread blocked): the next tick, on time, decides", () => {
    const w = new SilenceWatch(100, 400, 0);
    expect(w.tick(100, 0)).toBe(false);
    // Blocked from 100 to 2100: the peer's bytes from then are still unread.
    expect(w.tick(2100, 0)).toBe(false);
    // Read after that tick: the peer lives.
    expect(w.tick(2200, 2150)).toBe(false);
    // Had it been silent, the on-time tick after the late one drops it.
    const v = new SilenceWatch(100, 400, 0);
    expect(v.tick(2100, 0)).toBe(false);
    expect(v.tick(2200, 0)).toBe(true);
  });
});
