/**
 * A peer with its own routing id that drops and comes back, talking to a
 * vtx-bound ROUTER: libzmq's ROUTER refuses a second pipe with a routing id
 * it still has (the first pipe lives until the app has read what it
 * delivered), and an inproc pipe it refuses is never retried. The peer's
 * new bridge must therefore connect only once the app let go of the old
 * one; native tcp:// peers get the same outcome by reconnecting until the
 * ROUTER accepts them.
 */
import * as zmq from "zeromq";
import { afterEach, describe, expect, it } from "vitest";
import { Vtx } from "@vtx/runtime";
import { ztcp } from "@vtx/drivers";
import { within } from "./helpers.js";

describe("a vtx ROUTER and a peer with its own routing id that comes back", () => {
  let vtx: Vtx | undefined;
  const natives: zmq.Socket[] = [];
  afterEach(async () => {
    for (const s of natives.splice(0)) s.close();
    await vtx?.destroy();
  });

  it("messages from before the peer dropped are read first, then the returning peer's, none lost", async () => {
    vtx = new Vtx();
    vtx.register("ztcp", ztcp());
    const router = vtx.socket("ROUTER", { linger: 0 });
    const ep = await vtx.bind(router, "ztcp://127.0.0.1:0");
    const tcp = ep.replace("ztcp://", "tcp://");

    const first = new zmq.Dealer({ linger: 1000, routingId: "alice" });
    natives.push(first);
    first.connect(tcp);
    for (let i = 0; i < 50; i++) await within(first.send(String(i)), 5000, `send ${i}`);
    // One is read, so the link is known to be up; 49 stay unread in the old pipe.
    const [id0, m0] = await within(router.receive(), 5000, "first message");
    expect([id0?.toString(), m0?.toString()]).toEqual(["alice", "0"]);
    const gone = vtx.waitFor((e) => e.socket === router && e.type === "disconnected", 5000);
    first.close();
    await gone;

    const second = new zmq.Dealer({ linger: 0, routingId: "alice" });
    natives.push(second);
    second.connect(tcp);
    for (let i = 1000; i < 1050; i++) await within(second.send(String(i)), 5000, `send ${i}`);

    const got: number[] = [];
    for (let i = 0; i < 99; i++) {
      const [id, m] = await within(router.receive(), 5000, `message ${i + 1} of 100 at the ROUTER (got ${got.join(",")})`);
      expect(id?.toString()).toBe("alice");
      got.push(Number(m!.toString()));
    }
    expect(got).toEqual([...Array.from({ length: 49 }, (_, i) => i + 1), ...Array.from({ length: 50 }, (_, i) => 1000 + i)]);

    // Replies reach the returning peer.
    await within(router.send(["alice", "welcome back"]), 5000, "reply");
    const [reply] = await within(second.receive(), 5000, "reply at the returning peer");
    expect(reply?.toString()).toBe("welcome back");
  });
});
