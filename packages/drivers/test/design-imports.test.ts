/**
 * The import line of ../shared/DESIGN.md ("The API users and tests rely on")
 * links as written; epgm, which no issue has asked for yet, says so with a
 * code when called instead of failing the whole module at link time.
 */
import { describe, expect, it } from "vitest";
import { Vtx, VtxError } from "@vtx/runtime";
import { udp, tls, ws, epgm } from "@vtx/drivers";

describe("DESIGN.md's import line", () => {
  it("links; udp, tls and ws register, epgm() refuses with VTX_NOT_IMPLEMENTED", async () => {
    const vtx = new Vtx();
    try {
      vtx.register("udp", udp());
      vtx.register("tls", tls());
      vtx.register("ws", ws());
      let err: unknown;
      try {
        vtx.register("epgm", epgm());
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(VtxError);
      expect((err as VtxError).code).toBe("VTX_NOT_IMPLEMENTED");
    } finally {
      await vtx.destroy();
    }
  });
});
