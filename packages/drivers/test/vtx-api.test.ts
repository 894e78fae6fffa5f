import { afterEach, describe, expect, it } from "vitest";
import { Vtx, VtxError } from "@vtx/runtime";
import { udp, ztcp } from "@vtx/drivers";
import { within, strs } from "./helpers.js";

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    return err instanceof VtxError ? err.code : `not a VtxError: ${String(err)}`;
  }
  return undefined;
}

describe("Vtx API", () => {
  let vtx: Vtx;
  afterEach(async () => {
    await vtx?.destroy();
  });

  it("gives each endpoint error its own code", async () => {
    vtx = new Vtx();
    vtx.register("ztcp", ztcp());
    const s = vtx.socket("PULL");
    expect(await codeOf(vtx.bind(s, "nosuch://127.0.0.1:1"))).toBe("VTX_SCHEME_UNKNOWN");
    expect(await codeOf(vtx.bind(s, "ztcp://127.0.0.1"))).toBe("VTX_ENDPOINT_MALFORMED");
    expect(await codeOf(vtx.bind(s, "ztcp//127.0.0.1:1"))).toBe("VTX_ENDPOINT_MALFORMED");
    expect(await codeOf(vtx.connect(s, "ztcp://127.0.0.1:70000"))).toBe("VTX_ENDPOINT_PORT_RANGE");
    expect(await codeOf(() => vtx.register("ztcp", ztcp()))).toBe("VTX_SCHEME_TAKEN");
    expect(await codeOf(() => vtx.socket("NOPE" as "PUSH"))).toBe("VTX_SOCKET_TYPE");
  });

  it("reports a busy port as VTX_ADDRESS_IN_USE and keeps the driver serving", async () => {
    vtx = new Vtx();
    vtx.register("ztcp", ztcp());
    const a = vtx.socket("PULL");
    const ep = await vtx.bind(a, "ztcp://127.0.0.1:0");
    const b = vtx.socket("PULL");
    expect(await codeOf(vtx.bind(b, ep))).toBe("VTX_ADDRESS_IN_USE");
    const push = vtx.socket("PUSH");
    await vtx.connect(push, ep);
    await push.send("still here");
    expect(strs(await within(a.receive(), 5000, "message after a failed bind"))).toEqual(["still here"]);
  });

  it("refuses an incompatible pair on both sides with ZMTP_INCOMPATIBLE_SOCKET_TYPE", async () => {
    vtx = new Vtx();
    vtx.register("ztcp", ztcp());
    const pub = vtx.socket("PUB");
    const ep = await vtx.bind(pub, "ztcp://127.0.0.1:0");
    const push = vtx.socket("PUSH");
    const failures: string[] = [];
    const both = new Promise<void>((resolve) => {
      const off = vtx.on((e) => {
        if (e.type !== "handshake-failed") return;
        failures.push(`${e.socket === pub ? "pub" : "push"}:${e.error?.code}`);
        if (failures.length === 2) {
          off();
          resolve();
        }
      });
    });
    await vtx.connect(push, ep, { reconnectInterval: 5000 });
    await within(both, 5000, "handshake-failed on both sides");
    expect(failures.sort()).toEqual(["pub:ZMTP_INCOMPATIBLE_SOCKET_TYPE", "push:ZMTP_INCOMPATIBLE_SOCKET_TYPE"]);
  });

  it("refuses a second remote peer on a bound PAIR with VTX_PAIR_EXCLUSIVE", async () => {
    vtx = new Vtx();
    vtx.register("ztcp", ztcp());
    const pair = vtx.socket("PAIR");
    const ep = await vtx.bind(pair, "ztcp://127.0.0.1:0");
    const first = vtx.socket("PAIR");
    const up = vtx.waitFor((e) => e.type === "connected" && e.socket === first, 5000);
    await vtx.connect(first, ep);
    await up;
    const refused = vtx.waitFor((e) => e.type === "handshake-failed" && e.socket === pair, 5000);
    const second = vtx.socket("PAIR");
    await vtx.connect(second, ep, { reconnectInterval: 5000 });
    expect((await refused).error?.code).toBe("VTX_PAIR_EXCLUSIVE");
    await first.send("only you");
    expect(strs(await within(pair.receive(), 5000, "first PAIR's message"))).toEqual(["only you"]);
  });

  it("unbind stops accepting; disconnect stops dialing; both can be re-done", async () => {
    vtx = new Vtx();
    vtx.register("ztcp", ztcp());
    const pull = vtx.socket("PULL");
    const ep = await vtx.bind(pull, "ztcp://127.0.0.1:0");
    await vtx.unbind(pull, ep);
    expect(await codeOf(vtx.unbind(pull, ep))).toBe("VTX_ENDPOINT_NOT_FOUND");
    const again = await vtx.bind(pull, ep);
    expect(again).toBe(ep);
    const push = vtx.socket("PUSH");
    await vtx.connect(push, ep);
    await vtx.disconnect(push, ep);
    await vtx.connect(push, ep);
    await push.send("after reconnect");
    expect(strs(await within(pull.receive(), 5000, "the message sent after re-connecting"))).toEqual(["after reconnect"]);
  });

  // As native zmq_disconnect: once disconnect() has resolved, the app PUSH
  // no longer routes to that link (before, its bridge went on taking new
  // sends while it lingered, and such a message left on the closing link
  // or was lost with it). What was queued before still lingers out.
  it.each(["ztcp", "udp"] as const)("%s: a message sent after disconnect() resolved never goes to the disconnected link", async (scheme) => {
    vtx = new Vtx();
    vtx.register(scheme, scheme === "ztcp" ? ztcp() : udp());
    for (let round = 0; round < 5; round++) {
      const a = vtx.socket("PULL");
      const b = vtx.socket("PULL");
      const epA = await vtx.bind(a, `${scheme}://127.0.0.1:0`);
      const epB = await vtx.bind(b, `${scheme}://127.0.0.1:0`);
      const push = vtx.socket("PUSH");
      const upA = vtx.waitFor((e) => e.type === "connected" && e.socket === push && e.endpoint === epA, 5000);
      const upB = vtx.waitFor((e) => e.type === "connected" && e.socket === push && e.endpoint === epB, 5000);
      await vtx.connect(push, epA);
      await vtx.connect(push, epB);
      await Promise.all([upA, upB]);
      // Queued before the disconnect, enough to keep A's link busy for a
      // while: lingers out on whichever link took it.
      const filler = Buffer.alloc(64 * 1024, 1);
      for (let i = 0; i < 4; i++) await push.send(`before ${i}`);
      for (let i = 0; i < 100; i++) await push.send([`filler ${i}`, filler]);
      await vtx.disconnect(push, epA);
      for (let i = 0; i < 20; i++) await push.send(`after ${i}`);
      const gotB: string[] = [];
      while (gotB.filter((m) => m.startsWith("after")).length < 20) {
        const m = strs(await within(b.receive(), 5000, `B's messages (round ${round}, has ${JSON.stringify(gotB)})`))[0]!;
        if (!m.startsWith("filler")) gotB.push(m);
      }
      const afters = gotB.filter((m) => m.startsWith("after"));
      expect(afters).toEqual(Array.from({ length: 20 }, (_, i) => `after ${i}`));
      const gotA: string[] = [];
      const beforesOnB = gotB.length - afters.length;
      while (gotA.length < 4 - beforesOnB) {
        const m = strs(await within(a.receive(), 5000, `A's lingered messages (has ${JSON.stringify(gotA)})`))[0]!;
        if (!m.startsWith("filler")) gotA.push(m);
      }
      expect([...gotA, ...gotB.filter((m) => m.startsWith("before"))].sort()).toEqual(["before 0", "before 1", "before 2", "before 3"]);
      await vtx.close(push);
      await vtx.close(a);
      await vtx.close(b);
    }
  });

  // zmq_unbind also ends the connections accepted on that endpoint (with
  // linger): once unbind() has resolved, a bound PUSH routes only to peers
  // of its other endpoints.
  it("ztcp: a message sent after unbind() resolved never goes to that endpoint's peers", async () => {
    vtx = new Vtx();
    vtx.register("ztcp", ztcp());
    const push = vtx.socket("PUSH");
    const epA = await vtx.bind(push, "ztcp://127.0.0.1:0");
    const epB = await vtx.bind(push, "ztcp://127.0.0.1:0");
    const a = vtx.socket("PULL");
    const b = vtx.socket("PULL");
    const upA = vtx.waitFor((e) => e.type === "connected" && e.socket === a, 5000);
    const upB = vtx.waitFor((e) => e.type === "connected" && e.socket === b, 5000);
    // Peers that reconnect slowly: after the unbind, A must not find another way in.
    await vtx.connect(a, epA, { reconnectInterval: 60_000 });
    await vtx.connect(b, epB);
    await Promise.all([upA, upB]);
    // Each PULL collects in the background; `changed` wakes whoever waits for more.
    const got = { a: [] as string[], b: [] as string[] };
    let changed: () => void = () => undefined;
    const more = (): Promise<void> => new Promise((r) => (changed = r));
    for (const [name, s] of [["a", a], ["b", b]] as const) {
      void (async () => {
        for (;;) {
          got[name].push(strs(await s.receive())[0]!);
          changed();
        }
      })().catch(() => undefined);
    }
    // The bound side's bridges attach when its links are up: send until both peers get messages.
    for (let i = 0; (got.a.length === 0 || got.b.length === 0) && i < 200; i++) {
      const next = more();
      await push.send(`warm ${i}`);
      await within(next, 5000, "a warm-up message");
    }
    expect([got.a.length > 0, got.b.length > 0]).toEqual([true, true]);
    // Queued right before the unbind, enough to keep A's link busy for a
    // while: they linger out to whichever peer they were routed to.
    const filler = Buffer.alloc(64 * 1024, 1);
    const BEFORE = 200;
    for (let i = 0; i < BEFORE; i++) await push.send([`before ${i}`, filler]);
    await vtx.unbind(push, epA);
    for (let i = 0; i < 20; i++) await push.send(`after ${i}`);
    while (!got.b.includes("after 19")) await within(more(), 5000, `B's messages (has ${JSON.stringify(got.b)})`);
    const gotB = got.b.filter((m) => m.startsWith("after"));
    expect(got.a.filter((m) => m.startsWith("after"))).toEqual([]);
    while (got.a.length + got.b.length < BEFORE + 20 + got.a.filter((m) => m.startsWith("warm")).length + got.b.filter((m) => m.startsWith("warm")).length) {
      await within(more(), 5000, `the 'before' messages (A has ${JSON.stringify(got.a)}, B ${JSON.stringify(got.b)})`);
    }
    expect([...got.a, ...got.b].filter((m) => m.startsWith("before")).sort()).toEqual(Array.from({ length: BEFORE }, (_, i) => `before ${i}`).sort());
    expect(gotB).toEqual(Array.from({ length: 20 }, (_, i) => `after ${i}`));
  });

  it("refuses use after destroy with VTX_DESTROYED", async () => {
    vtx = new Vtx();
    await vtx.destroy();
    expect(await codeOf(() => vtx.socket("PUSH"))).toBe("VTX_DESTROYED");
  });
});
