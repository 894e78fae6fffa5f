/**
 * What the epgm:// driver refuses, before it opens any socket (so these run
 * anywhere, with no multicast sent): socket types PGM cannot carry, groups
 * that are not multicast, unknown interfaces, bad options.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Vtx, VtxError } from "@vtx/runtime";
import { epgm } from "@vtx/drivers";
import { resolveOptions } from "../../src/epgm/epgm-options.js";

let vtx: Vtx | undefined;
afterEach(async () => {
  await vtx?.destroy();
  vtx = undefined;
});

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return err instanceof VtxError ? err.code : `not a VtxError: ${String(err)}`;
  }
  return undefined;
}

describe("epgm:// refuses clearly what it does not carry", () => {
  it("socket types other than PUB/XPUB/SUB/XSUB (zmq_pgm(7)): EPGM_SOCKET_TYPE", async () => {
    vtx = new Vtx();
    vtx.register("epgm", epgm());
    for (const type of ["REQ", "REP", "DEALER", "ROUTER", "PUSH", "PULL", "PAIR"] as const) {
      expect(await codeOf(vtx.connect(vtx.socket(type), "epgm://127.0.0.1;239.192.9.9:5790")), type).toBe("EPGM_SOCKET_TYPE");
    }
  });

  it("a group that is not IPv4 multicast, a missing port, an unknown interface", async () => {
    vtx = new Vtx();
    vtx.register("epgm", epgm());
    const sub = vtx.socket("SUB");
    expect(await codeOf(vtx.connect(sub, "epgm://127.0.0.1;10.1.2.3:5790"))).toBe("VTX_ENDPOINT_MALFORMED");
    expect(await codeOf(vtx.connect(sub, "epgm://127.0.0.1;239.192.9.9:0"))).toBe("VTX_ENDPOINT_MALFORMED");
    expect(await codeOf(vtx.connect(sub, "epgm://nosuchif0;239.192.9.9:5790"))).toBe("VTX_INTERFACE_UNKNOWN");
    expect(await codeOf(vtx.connect(sub, "epgm://192.0.2.77;239.192.9.9:5790"))).toBe("VTX_INTERFACE_UNKNOWN");
  });

  it("bad options: VTX_OPTION_INVALID", async () => {
    vtx = new Vtx();
    vtx.register("epgm", epgm({ rate: 0 }));
    expect(await codeOf(vtx.connect(vtx.socket("PUB"), "epgm://127.0.0.1;239.192.9.9:5790"))).toBe("VTX_OPTION_INVALID");
  });
});

describe("epgm:// options", () => {
  const link = { heartbeatInterval: 0, heartbeatTimeout: 0, heartbeatTtl: 0, reconnectInterval: 100, reconnectIntervalMax: 100, handshakeTimeout: 1000, linger: 0, maxMessageSize: -1 };

  it("libzmq's defaults < epgm(options) < the socket's own options < per-call driver options", () => {
    expect(resolveOptions({}, link)).toMatchObject({ rate: 100, recoveryInterval: 10_000, hops: 1, maxTpdu: 1500, loop: true, ncfRetries: 2, dataRetries: 5 });
    expect(resolveOptions({ rate: 5000, hops: 3 }, link)).toMatchObject({ rate: 5000, hops: 3 });
    expect(resolveOptions({ rate: 5000, hops: 3 }, { ...link, multicast: { rate: 7000 } })).toMatchObject({ rate: 7000, hops: 3 });
    expect(resolveOptions({ rate: 5000 }, { ...link, multicast: { rate: 7000 }, driver: { rate: 9000 } })).toMatchObject({ rate: 9000 });
  });

  it("the manager passes the socket's rate, recoveryInterval, multicastHops and multicastMaxTransportDataUnit when set", async () => {
    vtx = new Vtx();
    vtx.register("echo", { module: new URL("../fixtures/echo-options-driver.mjs", import.meta.url).href, export: "createEchoOptionsDriver" });
    const seen = async (options?: object): Promise<unknown> => {
      const at = await vtx!.bind(vtx!.socket("PUB", options), "echo://h:1");
      return JSON.parse(decodeURIComponent(at.slice(at.indexOf("/", "echo://".length) + 1)));
    };
    expect(await seen({ rate: 40_000, recoveryInterval: 2000, multicastHops: 4, multicastMaxTransportDataUnit: 1400 })).toEqual({ rate: 40_000, recoveryInterval: 2000, hops: 4, maxTpdu: 1400 });
    expect(await seen()).toBeNull();
  });
});
