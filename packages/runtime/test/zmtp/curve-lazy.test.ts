/**
 * CURVE loads on demand. A driver worker imports the driver kit and the
 * stream driver, not CURVE's crypto libraries (they were a third of a
 * worker's heap, and every full GC walks the heap); the stream driver loads
 * CURVE when a bind or connect asks for it (that path is exercised end to
 * end by drivers/test/curve/curve-vtx.test.ts). This file imports nothing
 * that loads CURVE, so the "not loaded" state is real here.
 */
import { describe, expect, it } from "vitest";
import "../../src/driver-kit.js";
import { checkLinkMechanism } from "../../src/stream/zmtp-link.js";
import { createMechanism, loadCurve } from "../../src/zmtp/mechanism-option.js";

// A valid Z85 public key (libzmq's test vector for the server).
const SERVER_PUBLIC = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
const SERVER_SECRET = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

describe("CURVE on demand", () => {
  it("is refused with ZMTP_CURVE_NOT_LOADED until loaded, NULL and PLAIN need nothing, then a CURVE link option loads it", async () => {
    expect(() => createMechanism({ type: "CURVE", serverKey: SERVER_PUBLIC })).toThrow(expect.objectContaining({ code: "ZMTP_CURVE_NOT_LOADED" }));
    expect(createMechanism("NULL").name).toBe("NULL");
    expect(createMechanism({ type: "PLAIN", username: "u", password: "p" }).name).toBe("PLAIN");
    // What the stream driver does before a CURVE bind: validate, which loads.
    await checkLinkMechanism({ curveServer: true, curveSecretKey: SERVER_SECRET } as Parameters<typeof checkLinkMechanism>[0]);
    expect(createMechanism({ type: "CURVE", serverKey: SERVER_PUBLIC }).name).toBe("CURVE");
    await loadCurve(); // idempotent
    expect(createMechanism({ type: "CURVE", server: true, secretKey: SERVER_SECRET }).asServer).toBe(true);
  });
});
