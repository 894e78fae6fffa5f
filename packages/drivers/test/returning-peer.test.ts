/**
 * A peer that drops and comes back while the app has not read everything
 * its previous link delivered. libzmq's ROUTER refuses a second pipe with a
 * routing id it still has, and a PAIR a second pipe while it has one (the
 * first pipe lives until the app has read what it delivered); an inproc
 * pipe refused is never retried. So the peer's new bridge must connect only
 * once the app let go of the old one; native tcp:// peers get the same
 * outcome by reconnecting until they are accepted.
 */
import * as zmq from "zeromq";
import { afterEach, describe, expect, it } from "vitest";
import { Vtx } from "@vtx/runtime";
import { ztcp } from "@vtx/drivers";
import { within } from "./helpers.js";

describe("a peer that comes back to a vtx-bound ROUTER or PAIR", () => {
  let vtx: Vtx | undefined;
  const natives: zmq.Socket[] = [];
  afterEach(async () => {
    for (const s of natives.splice(0)) s.close();
    await vtx?.destroy();
  });

  it("ROUTER, a peer with its own routing id: messages from before it dropped are read first, then the returning peer's, none lost", async () => {
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
  it("PAIR: the returning peer's messages follow the unread ones of its previous link, and replies reach it", async () => {
    vtx = new Vtx();
    vtx.register("ztcp", ztcp());
    const pair = vtx.socket("PAIR", { linger: 0 });
    const ep = await vtx.bind(pair, "ztcp://127.0.0.1:0");
    const tcp = ep.replace("ztcp://", "tcp://");

    const first = new zmq.Pair({ linger: 1000 });
    natives.push(first);
    first.connect(tcp);
    for (let i = 0; i < 20; i++) await within(first.send(String(i)), 5000, `send ${i}`);
    expect((await within(pair.receive(), 5000, "first message"))[0]?.toString()).toBe("0");
    const gone = vtx.waitFor((e) => e.socket === pair && e.type === "disconnected", 5000);
    first.close();
    await gone;

    const second = new zmq.Pair({ linger: 0 });
    natives.push(second);
    second.connect(tcp);
    for (let i = 1000; i < 1020; i++) await within(second.send(String(i)), 5000, `send ${i}`);
    const got: number[] = [];
    for (let i = 0; i < 39; i++) {
      const [m] = await within(pair.receive(), 5000, `message ${i + 1} of 40 at the PAIR (got ${got.join(",")})`);
      got.push(Number(m!.toString()));
    }
    expect(got).toEqual([...Array.from({ length: 19 }, (_, i) => i + 1), ...Array.from({ length: 20 }, (_, i) => 1000 + i)]);
    await within(pair.send("welcome back"), 5000, "reply");
    expect((await within(second.receive(), 5000, "reply at the returning peer"))[0]?.toString()).toBe("welcome back");
  });
});
