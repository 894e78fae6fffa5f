/**
 * The import line of ../shared/DESIGN.md ("The API users and tests rely on")
 * links as written, and every driver it names registers.
 */
import { describe, expect, it } from "vitest";
import { Vtx } from "@vtx/runtime";
import { udp, tls, ws, epgm } from "@vtx/drivers";

describe("DESIGN.md's import line", () => {
  it("links; udp, tls, ws and epgm register", async () => {
    const vtx = new Vtx();
    try {
      vtx.register("udp", udp());
      vtx.register("tls", tls());
      vtx.register("ws", ws());
      vtx.register("epgm", epgm());
      expect(epgm({ rate: 1000 })).toMatchObject({ export: "createEpgmDriver", options: { rate: 1000 } });
    } finally {
      await vtx.destroy();
    }
  });
});
