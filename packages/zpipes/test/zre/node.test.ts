import { afterEach, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import * as zmq from "zeromq";
import { ZreNode, type ZreNodeOptions } from "../../src/zre/node.js";
import type { ZreEvent } from "../../src/zre/events.js";
import { decodeZre, encodeRoutingId } from "../../src/zre/codec.js";

// Beacons stay on loopback: every node's receiving socket is bound to the
// loopback broadcast address (shared with SO_REUSEADDR) and beacons are sent
// to it, so all nodes on this host see them and nothing leaves 127.0.0.0/8.
const beaconPort = 20000 + Math.floor(Math.random() * 30000);
const loopbackBeacon = { port: beaconPort, bind: "127.255.255.255", broadcast: "127.255.255.255", intervalMs: 100 };
const fast = { evasiveMs: 300, expiredMs: 1500 };

const nodes: ZreNode[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

class Recorder {
  readonly events: ZreEvent[] = [];
  private waiters: (() => void)[] = [];
  push(ev: ZreEvent): void {
    this.events.push(ev);
    for (const w of this.waiters.splice(0)) w();
  }
  /** Resolves with the first recorded event matching `pred`; fails clearly after `ms`. */
  async waitFor<T extends ZreEvent>(what: string, pred: (ev: ZreEvent) => ev is T, ms?: number): Promise<T>;
  async waitFor(what: string, pred: (ev: ZreEvent) => boolean, ms?: number): Promise<ZreEvent>;
  async waitFor(what: string, pred: (ev: ZreEvent) => boolean, ms = 5000): Promise<ZreEvent> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}; saw ${JSON.stringify(this.events.map((e) => e.type))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

async function startNode(opts: ZreNodeOptions): Promise<{ node: ZreNode; rec: Recorder }> {
  const node = new ZreNode({ ...fast, ...opts });
  const rec = new Recorder();
  node.on((ev) => rec.push(ev));
  nodes.push(node);
  await node.start();
  return { node, rec };
}

const is =
  <K extends ZreEvent["type"]>(type: K, peer?: string, extra: (ev: Extract<ZreEvent, { type: K }>) => boolean = () => true) =>
  (ev: ZreEvent): ev is Extract<ZreEvent, { type: K }> =>
    ev.type === type && (peer === undefined || ev.peer === peer) && extra(ev as Extract<ZreEvent, { type: K }>);

describe("ZRE node", () => {
  it("three nodes on loopback find each other by UDP beacon, join ZPIPES, whisper, shout and leave", async () => {
    const a = await startNode({ name: "a", beacon: loopbackBeacon, headers: { role: "broker" } });
    const b = await startNode({ name: "b", beacon: loopbackBeacon });
    const c = await startNode({ name: "c", beacon: loopbackBeacon });
    for (const [x, others] of [[a, [b, c]], [b, [a, c]], [c, [a, b]]] as const) {
      for (const o of others) await x.rec.waitFor(`${x.node.name} ENTER ${o.node.name}`, is("ENTER", o.node.id));
    }
    const enterA = await b.rec.waitFor("b sees a", is("ENTER", a.node.id));
    expect(enterA).toMatchObject({ name: "a", endpoint: a.node.endpoint, headers: { role: "broker" } });

    for (const x of [a, b, c]) x.node.join("ZPIPES");
    for (const [x, others] of [[a, [b, c]], [b, [a, c]], [c, [a, b]]] as const) {
      for (const o of others) await x.rec.waitFor(`${x.node.name} sees ${o.node.name} JOIN`, is("JOIN", o.node.id, (e) => e.group === "ZPIPES"));
    }
    expect(a.node.peersIn("ZPIPES").sort()).toEqual([b.node.id, c.node.id].sort());

    await a.node.whisper(b.node.id, ["to b", Buffer.from([0, 1, 2])]);
    const w = await b.rec.waitFor("b WHISPER", is("WHISPER", a.node.id));
    expect(w.content.map((f) => f.toString("hex"))).toEqual([Buffer.from("to b").toString("hex"), "000102"]);
    expect(c.rec.events.some((e) => e.type === "WHISPER")).toBe(false);

    await a.node.shout("ZPIPES", ["all"]);
    for (const x of [b, c]) {
      const s = await x.rec.waitFor(`${x.node.name} SHOUT`, is("SHOUT", a.node.id));
      expect(s.group).toBe("ZPIPES");
      expect(s.content[0]!.toString()).toBe("all");
    }
    expect(a.rec.events.some((e) => e.type === "SHOUT")).toBe(false);

    c.node.leave("ZPIPES");
    await a.rec.waitFor("a sees c LEAVE", is("LEAVE", c.node.id));
    await a.node.shout("ZPIPES", ["second"]);
    await b.rec.waitFor("b second SHOUT", is("SHOUT", a.node.id, (e) => e.content[0]?.toString() === "second"));
    // c left: the shout was not sent to it. Ping a after the shout so c has
    // processed everything a sent before this whisper when it arrives.
    await a.node.whisper(c.node.id, ["after"]);
    await c.rec.waitFor("c whisper after", is("WHISPER", a.node.id));
    expect(c.rec.events.filter((e) => e.type === "SHOUT").length).toBe(1);
  });

  it("gossip mode: a node dialled by endpoint finds and is found, with no UDP socket at all", async () => {
    const udpSockets = (): number => process.getActiveResourcesInfo().filter((r) => r === "UDPWrap").length;
    // Sockets closed by the previous test's nodes are released a few ticks
    // after their close callbacks; let them go (bounded) before counting.
    for (let i = 0; i < 100 && udpSockets() > 0; i++) await new Promise((r) => setImmediate(r));
    const before = udpSockets();
    expect(before).toBe(0);
    const a = await startNode({ name: "ga", gossip: [] });
    const b = await startNode({ name: "gb", gossip: [a.node.endpoint] });
    const c = await startNode({ name: "gc", gossip: [a.node.endpoint, b.node.endpoint] });
    expect(udpSockets()).toBe(before);
    await a.rec.waitFor("a ENTER b", is("ENTER", b.node.id));
    await a.rec.waitFor("a ENTER c", is("ENTER", c.node.id));
    await b.rec.waitFor("b ENTER a", is("ENTER", a.node.id));
    await b.rec.waitFor("b ENTER c", is("ENTER", c.node.id));
    await c.rec.waitFor("c ENTER a", is("ENTER", a.node.id));
    c.node.join("ZPIPES");
    await b.rec.waitFor("b sees c JOIN", is("JOIN", c.node.id));
    await b.node.shout("ZPIPES", ["hi"]);
    await c.rec.waitFor("c SHOUT from b", is("SHOUT", b.node.id));
    // The pending link was adopted: each node holds exactly one peer per other node.
    expect(a.node.peerList().length).toBe(2);
    expect(b.node.peerList().length).toBe(2);
  });

  it("a node restarted at the same endpoint (new UUID) replaces the old peer at once, not after expiry", async () => {
    const slow = { evasiveMs: 5000, expiredMs: 20000 };
    const a = await startNode({ ...slow, name: "a", gossip: [] });
    const b1 = await startNode({ ...slow, name: "b", gossip: [a.node.endpoint] });
    await a.rec.waitFor("a ENTER b1", is("ENTER", b1.node.id));
    const port = Number(b1.node.endpoint.split(":").pop());
    await b1.node.stop();
    // libzmq releases a closed listener in its I/O thread, a moment after
    // close() returns and with nothing to await: retry the bind, bounded.
    let b2: Awaited<ReturnType<typeof startNode>> | undefined;
    for (let attempt = 0; b2 === undefined; attempt++) {
      try {
        b2 = await startNode({ ...slow, name: "b", port, gossip: [a.node.endpoint] });
      } catch (err) {
        if (attempt >= 100 || !String(err).includes("Address already in use")) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    expect(b2.node.endpoint).toBe(b1.node.endpoint);
    const exit = await a.rec.waitFor("a EXIT b1", is("EXIT", b1.node.id), 3000);
    expect(exit.reason).toBe("restarted");
    await a.rec.waitFor("a ENTER b2", is("ENTER", b2.node.id), 3000);
    expect(a.node.peerList().map((p) => p.peer)).toEqual([b2.node.id]);
  });

  it("a graceful stop is seen at once through the port-0 beacon", async () => {
    const slow = { evasiveMs: 5000, expiredMs: 20000 };
    const a = await startNode({ ...slow, beacon: loopbackBeacon });
    const b = await startNode({ ...slow, beacon: loopbackBeacon });
    await a.rec.waitFor("a ENTER b", is("ENTER", b.node.id));
    const t0 = Date.now();
    await b.node.stop();
    const exit = await a.rec.waitFor("a EXIT b", is("EXIT", b.node.id), 3000);
    expect(exit.reason).toBe("left");
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it("a node whose thread was blocked past expiredMs does not expire a peer that kept talking (a late reap decides nothing)", async () => {
    const a = await startNode({ name: "parent", beacon: loopbackBeacon });
    // The child is patient (10 s): it keeps A while A cannot answer.
    const child = spawnPeer({ name: "child", beacon: loopbackBeacon, evasiveMs: 300, expiredMs: 10_000 });
    const ready = (await child.next((j) => "ready" in j, "child ready", 30_000)) as { ready: string; id: string };
    await a.rec.waitFor("ENTER child", is("ENTER", ready.id));
    await child.next((j) => j.type === "ENTER" && j.peer === a.node.id, "child sees parent");
    // Block this thread (node A) for twice A's expiredMs. The child, finding A
    // silent, PINGs it meanwhile; those PINGs wait unread in A's socket.
    const until = Date.now() + 2 * fast.expiredMs;
    while (Date.now() < until) {
      /* busy: node A cannot run */
    }
    // A reads the child's traffic after its late reap: the child is still its peer.
    child.send({ whisper: [a.node.id, "still here"] });
    const w = await a.rec.waitFor("WHISPER from child", is("WHISPER", ready.id));
    expect(w.content[0]!.toString()).toBe("still here");
    expect(a.rec.events.some((e) => e.type === "EXIT" && e.peer === ready.id)).toBe(false);
  });

  it("a node in another process is discovered, joins ZPIPES, whispers and shouts both ways, and expires when killed", async () => {
    const a = await startNode({ name: "parent", beacon: loopbackBeacon });
    const child = spawnPeer({ name: "child", beacon: loopbackBeacon, ...fast, groups: ["ZPIPES"] });
    const ready = (await child.next((j) => "ready" in j, "child ready", 30_000)) as { ready: string; id: string };
    await a.rec.waitFor("ENTER child", is("ENTER", ready.id));
    await a.rec.waitFor("child JOIN", is("JOIN", ready.id, (e) => e.group === "ZPIPES"));
    await child.next((j) => j.type === "ENTER" && j.peer === a.node.id, "child sees parent");
    child.send({ whisper: [a.node.id, "from child"] });
    const w = await a.rec.waitFor("WHISPER from child", is("WHISPER", ready.id));
    expect(w.content[0]!.toString()).toBe("from child");
    await a.node.whisper(ready.id, ["from parent"]);
    await child.next((j) => j.type === "WHISPER" && (j.content as string[])[0] === "from parent", "child got whisper");
    a.node.join("ZPIPES");
    await child.next((j) => j.type === "JOIN" && j.peer === a.node.id && j.group === "ZPIPES", "child sees parent JOIN");
    child.send({ shout: ["ZPIPES", "to the group"] });
    const s = await a.rec.waitFor("SHOUT from child", is("SHOUT", ready.id));
    expect([s.group, s.content[0]!.toString()]).toEqual(["ZPIPES", "to the group"]);
    await a.node.shout("ZPIPES", ["back"]);
    await child.next((j) => j.type === "SHOUT" && (j.content as string[])[0] === "back", "child got shout");

    const killedAt = Date.now();
    child.proc.kill("SIGKILL");
    await a.rec.waitFor("EVASIVE child", is("EVASIVE", ready.id), fast.expiredMs + 2000);
    const exit = await a.rec.waitFor("EXIT child", is("EXIT", ready.id), fast.expiredMs + 3000);
    expect(exit.reason).toBe("expired");
    const took = Date.now() - killedAt;
    expect(took).toBeGreaterThanOrEqual(fast.expiredMs - 200);
    expect(took).toBeLessThan(fast.expiredMs + 2000);
    expect(a.node.peerList()).toEqual([]);
  });

  it("speaks RFC 36 bytes to a hand-written peer and drops it on a sequence gap", async () => {
    const a = await startNode({ name: "a", gossip: [] });
    a.node.join("G");
    const uuid = Buffer.from("00112233445566778899aabbccddeeff", "hex");
    const router = new zmq.Router({ linger: 0 });
    await router.bind("tcp://127.0.0.1:*");
    const dealer = new zmq.Dealer({ linger: 0 });
    (dealer as unknown as { setStringOption(o: number, v: Buffer): void }).setStringOption(5, Buffer.from(encodeRoutingId(uuid)));
    dealer.connect(a.node.endpoint);
    try {
      const ep = Buffer.from(router.lastEndpoint!);
      const hello = Buffer.concat([
        Buffer.from("aaa101020001", "hex"),
        Buffer.from([ep.length]), ep,
        Buffer.from("00000000", "hex"), // no groups
        Buffer.from("00", "hex"), // status
        Buffer.from("03726177", "hex"), // name "raw"
        Buffer.from("00000000", "hex"), // no headers
      ]);
      await dealer.send(hello);
      const enter = await a.rec.waitFor("ENTER raw", is("ENTER", uuid.toString("hex").toUpperCase()));
      expect(enter.name).toBe("raw");

      // a connects back and greets with its own HELLO: routing id %x01+UUID, sequence 1, group G.
      const [rid, frame] = await withTimeout(router.receive(), 3000, "HELLO from a");
      expect(rid!.toString("hex")).toBe("01" + a.node.id.toLowerCase());
      const back = decodeZre([frame!]);
      expect(back).toMatchObject({ type: "HELLO", sequence: 1, endpoint: a.node.endpoint, groups: ["G"], status: 1, name: "a" });

      await dealer.send(Buffer.from("aaa106020002", "hex")); // PING, sequence 2
      const [, pong] = await withTimeout(router.receive(), 3000, "PING-OK");
      expect(decodeZre([pong!])).toEqual({ type: "PING-OK", sequence: 2 });

      await dealer.send([Buffer.from("aaa102020004", "hex"), Buffer.from("x")]); // WHISPER, sequence 4: 3 is lost
      const exit = await a.rec.waitFor("EXIT raw", is("EXIT"));
      expect(exit.reason).toBe("lost-messages");
      expect(a.rec.events.some((e) => e.type === "WHISPER")).toBe(false);
    } finally {
      dealer.close();
      router.close();
    }
  });

  it("garbage on the ROUTER and on the beacon port is dropped; the node keeps working", async () => {
    const a = await startNode({ name: "a", beacon: loopbackBeacon });
    const junk = new zmq.Dealer({ linger: 0 });
    junk.connect(a.node.endpoint);
    const udp = (await import("node:dgram")).createSocket("udp4");
    try {
      const rnd = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(Math.random() * 256)));
      for (let i = 0; i < 200; i++) {
        await junk.send(i % 3 === 0 ? [rnd(i % 40)] : [Buffer.from("aaa1", "hex"), rnd(i % 7)]);
        await new Promise<void>((r) => udp.send(i % 2 ? rnd(22) : Buffer.concat([Buffer.from("ZRE\x02"), rnd(18)]), beaconPort, "127.255.255.255", () => r()));
      }
      // A well-behaved node still finds it and talks to it.
      const b = await startNode({ name: "b", beacon: loopbackBeacon });
      await a.rec.waitFor("a ENTER b", is("ENTER", b.node.id));
      await b.node.whisper(a.node.id, ["still here"]);
      await a.rec.waitFor("whisper", is("WHISPER", b.node.id));
      expect(a.node.peerList().map((p) => p.peer)).toEqual([b.node.id]);
    } finally {
      junk.close();
      udp.close();
    }
  });

  it("events() iterates until the node stops", async () => {
    const a = await startNode({ beacon: loopbackBeacon });
    const it = a.node.events();
    const b = await startNode({ beacon: loopbackBeacon });
    const first = await withTimeout(it.next(), 5000, "first event");
    expect(first.value).toMatchObject({ type: "ENTER", peer: b.node.id });
    await a.node.stop();
    const end = await withTimeout(it.next(), 2000, "end of iteration");
    expect(end.done).toBe(true);
  });
});

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

function spawnPeer(opts: object): {
  proc: ChildProcess;
  next: (pred: (j: Record<string, unknown>) => boolean, what: string, ms?: number) => Promise<Record<string, unknown>>;
  send: (cmd: object) => void;
} {
  const loader = fileURLToPath(new URL("./support/ts-loader.mjs", import.meta.url));
  const script = fileURLToPath(new URL("./support/zre-peer.ts", import.meta.url));
  const proc = spawn(process.execPath, ["--import", loader, script, JSON.stringify(opts)], { stdio: ["pipe", "pipe", "inherit"] });
  children.push(proc);
  const lines: Record<string, unknown>[] = [];
  let wake: (() => void) | undefined;
  createInterface({ input: proc.stdout }).on("line", (l) => {
    lines.push(JSON.parse(l) as Record<string, unknown>);
    wake?.();
  });
  return {
    proc,
    send: (cmd) => proc.stdin.write(JSON.stringify(cmd) + "\n"),
    next: async (pred, what, ms = 8000) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const hit = lines.find(pred);
        if (hit) return hit;
        if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`child: timed out or exited waiting for ${what}; saw ${JSON.stringify(lines)}`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, Math.max(1, deadline - Date.now()));
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
      }
    },
  };
}
