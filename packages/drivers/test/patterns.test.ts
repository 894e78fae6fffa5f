/**
 * The ØMQ guide's behaviours over a virtual transport: vtx sockets on both
 * ends, the transport chosen by `testTransports` so the same suite runs over
 * every driver. Nothing in a test body knows which transport it is.
 */
import { readFileSync } from "node:fs";
import type * as zmq from "zeromq";
import { afterEach, describe, expect, it } from "vitest";
import type { AnySocket, Vtx } from "@vtx/runtime";
import {
  expectEvent,
  expectEvents,
  expectFrames,
  freePort,
  publishUntilSeen,
  receiveSkipping,
  spawnFixture,
  strs,
  testTransports,
  tick,
  vtxWith,
  within,
  type Child,
} from "./helpers.js";

const WAIT = 5000;

/** A TCP autotuning maximum (the third field of tcp_rmem or tcp_wmem), 4 MiB if unreadable. */
function tcpBufferMax(name: "tcp_rmem" | "tcp_wmem"): number {
  try {
    return Number(readFileSync(`/proc/sys/net/ipv4/${name}`, "utf8").trim().split(/\s+/)[2]) || 4 * 1024 * 1024;
  } catch {
    return 4 * 1024 * 1024;
  }
}
/** The most a TCP connection's two kernel buffers may hold on this machine. */
const KERNEL_SOCKET_BUFFER_MAX = tcpBufferMax("tcp_rmem") + tcpBufferMax("tcp_wmem");

for (const t of testTransports("ztcp", "udp", "tls", "ws", "wss")) {
  describe(`guide patterns over ${t.scheme}://`, () => {
    let vtx: Vtx;
    let others: Vtx[] = [];
    let children: Child[] = [];
    afterEach(async () => {
      for (const c of children) await c.kill();
      children = [];
      for (const v of others) await v.destroy();
      others = [];
      await vtx?.destroy();
    });

    /** A bound socket and its resolved endpoint. */
    async function bound<S extends AnySocket>(s: S): Promise<[S, string]> {
      return [s, await vtx.bind(s, t.bindEndpoint())];
    }

    it("REQ/REP is lockstep: out-of-turn sends and receives fail with libzmq's EFSM, or wait their turn", async () => {
      vtx = vtxWith(t);
      const [rep, ep] = await bound(vtx.socket("REP", { linger: 0 }));
      const req = vtx.socket("REQ", { linger: 0 });
      await vtx.connect(req, ep);

      // zeromq.js checks ZMQ_EVENTS before calling libzmq and waits while an
      // operation is not allowed; with a zero timeout it calls libzmq at once
      // and libzmq's EFSM surfaces. The socket stays usable either way.
      const now = async (s: { sendTimeout: number; receiveTimeout: number }, op: () => Promise<unknown>): Promise<unknown> => {
        s.sendTimeout = 0;
        s.receiveTimeout = 0;
        try {
          return await op();
        } finally {
          s.sendTimeout = -1;
          s.receiveTimeout = -1;
        }
      };
      await expect(now(req, () => req.receive())).rejects.toMatchObject({ code: "EFSM" });
      await expect(now(rep, () => rep.send("too early"))).rejects.toMatchObject({ code: "EFSM" });
      await within(req.send("first"), WAIT, "first request");
      expect(req.writable).toBe(false);
      await expect(now(req, () => req.send("second"))).rejects.toMatchObject({ code: "EFSM" });

      expect(strs(await within(rep.receive(), WAIT, "request"))).toEqual(["first"]);
      await expect(now(rep, () => rep.receive())).rejects.toMatchObject({ code: "EFSM" });
      await within(rep.send("answer"), WAIT, "reply");
      expect(strs(await within(req.receive(), WAIT, "reply"))).toEqual(["answer"]);

      // Without the zero timeout an early second request waits for the
      // reply to the first: the REP never sees two requests at once.
      await within(req.send("third"), WAIT, "third request");
      const early = req.send("fourth");
      expect(strs(await within(rep.receive(), WAIT, "third at REP"))).toEqual(["third"]);
      expect(rep.readable).toBe(false);
      await within(rep.send("answer 3"), WAIT, "reply 3");
      expect(strs(await within(req.receive(), WAIT, "reply 3"))).toEqual(["answer 3"]);
      await within(early, WAIT, "the early request, sent once its turn came");
      expect(strs(await within(rep.receive(), WAIT, "fourth at REP"))).toEqual(["fourth"]);
      await within(rep.send("answer 4"), WAIT, "reply 4");
      expect(strs(await within(req.receive(), WAIT, "reply 4"))).toEqual(["answer 4"]);
    });

    it("a PUSH spreads messages evenly across 3 connected PULL workers", async () => {
      vtx = vtxWith(t);
      const push = vtx.socket("PUSH", { linger: 0 });
      const ep = await vtx.bind(push, t.bindEndpoint());
      const allConnected = expectEvents(vtx, (e) => e.socket === push && e.type === "connected", 3, WAIT, "3 workers connected");
      const workers = [0, 1, 2].map(() => vtx.socket("PULL", { linger: 0 }));
      for (const w of workers) await vtx.connect(w, ep);
      // Round-robin is over the peers attached when sending starts.
      await allConnected;

      const TOTAL = 300;
      const counts = [0, 0, 0];
      let received = 0;
      let allIn: () => void = () => undefined;
      const done = new Promise<void>((r) => (allIn = r));
      const readers = workers.map(async (w, i) => {
        for (let n = 0; n < TOTAL; n++) {
          const [m] = await w.receive();
          expect(m?.toString()).toMatch(/^task \d+$/);
          counts[i]!++;
          if (++received === TOTAL) allIn();
        }
      });
      for (const r of readers) r.catch(() => undefined); // closed by destroy() with a receive pending
      for (let i = 0; i < TOTAL; i++) await within(push.send(`task ${i}`), WAIT, `send task ${i}`);
      await within(done, WAIT, `all ${TOTAL} tasks received (got ${received}: ${counts.join("/")})`);
      console.log(`[${t.scheme}] ${TOTAL} tasks over 3 workers: ${counts.join("/")}`);
      for (const c of counts) {
        expect(c).toBeGreaterThanOrEqual(90);
        expect(c).toBeLessThanOrEqual(110);
      }
    });

    it("a SUB gets only the topics it subscribed to, and stops getting one it cancelled", async () => {
      vtx = vtxWith(t);
      const [pub, ep] = await bound(vtx.socket("PUB", { linger: 0 }));
      const weather = vtx.socket("SUB", { linger: 0 });
      const sports = vtx.socket("SUB", { linger: 0 });
      weather.subscribe("weather");
      sports.subscribe("sports");
      await vtx.connect(weather, ep);
      await vtx.connect(sports, ep);
      // Slow joiner (guide ch. 1): publish a probe until each subscriber has it.
      await publishUntilSeen(pub, weather, ["weather-probe"]);
      await publishUntilSeen(pub, sports, ["sports-probe"]);

      for (const m of ["weather 1", "sports 1", "news 1", "weather 2", "sports 2", "weather-end", "sports-end"]) {
        await within(pub.send(m), WAIT, `publish ${m}`);
      }
      const collect = async (sub: typeof weather, probe: string, end: string): Promise<string[]> => {
        const got: string[] = [];
        for (let i = 0; i < 100; i++) {
          const m = strs(await receiveSkipping(sub, probe, WAIT, `${end} at the subscriber`));
          got.push(...m);
          if (m[0] === end) return got;
        }
        throw new Error(`${end} never arrived: ${got.join(", ")}`);
      };
      expect(await collect(weather, "weather-probe", "weather-end")).toEqual(["weather 1", "weather 2", "weather-end"]);
      expect(await collect(sports, "sports-probe", "sports-end")).toEqual(["sports 1", "sports 2", "sports-end"]);

      // Cancel then subscribe anew: once the new probe arrives the cancel has
      // reached the publisher too (same pipe, in order), so "weather 3" must
      // not come before "alerts-end".
      weather.unsubscribe("weather");
      weather.subscribe("alerts");
      await publishUntilSeen(pub, weather, ["alerts-probe"]);
      await within(pub.send("weather 3"), WAIT, "publish weather 3");
      await within(pub.send("alerts-end"), WAIT, "publish alerts-end");
      expect(strs(await receiveSkipping(weather, "alerts-probe", WAIT, "alerts-end"))).toEqual(["alerts-end"]);
    });

    it("a ROUTER routes replies by identity to the right one of 3 DEALERs", async () => {
      vtx = vtxWith(t);
      const [router, ep] = await bound(vtx.socket("ROUTER", { linger: 0 }));
      const ids = ["alice", "bob", "carol"];
      const dealers = ids.map((id) => vtx.socket("DEALER", { linger: 0, routingId: id }));
      for (const d of dealers) await vtx.connect(d, ep);
      for (const [i, d] of dealers.entries()) await within(d.send(`hello from ${ids[i]}`), WAIT, "dealer send");

      const heard = new Map<string, string>();
      for (let i = 0; i < ids.length; i++) {
        const [id, body] = strs(await within(router.receive(), WAIT, "message at ROUTER"));
        heard.set(id!, body!);
      }
      expect(Object.fromEntries(heard)).toEqual({ alice: "hello from alice", bob: "hello from bob", carol: "hello from carol" });

      // Replies in another order than the requests came: each lands on its owner.
      for (const id of [...ids].reverse()) await within(router.send([id, `for ${id}`]), WAIT, "router send");
      for (const [i, d] of dealers.entries()) {
        expect(strs(await within(d.receive(), WAIT, `reply at ${ids[i]}`))).toEqual([`for ${ids[i]}`]);
      }
      // Nothing else was queued for anyone.
      for (const d of dealers) expect(d.readable).toBe(false);
    });

    it("a PULL that stops reading stops its PUSH sender (HWM), and nothing is lost when it reads again", async () => {
      vtx = vtxWith(t);
      const HWM = 10;
      const SIZE = 64 * 1024;
      const pull = vtx.socket("PULL", { linger: 0, receiveHighWaterMark: HWM });
      const ep = await vtx.bind(pull, t.bindEndpoint());
      const push = vtx.socket("PUSH", { linger: 0, sendHighWaterMark: HWM });
      const up = expectEvent(vtx, (e) => e.socket === push && e.type === "connected", WAIT, "PUSH connected");
      await vtx.connect(push, ep);
      await up;

      const message = (seq: number): Buffer => {
        const b = Buffer.alloc(SIZE, seq & 0xff);
        b.writeUInt32BE(seq, 0);
        return b;
      };
      // Send until a send has not resolved for IDLE ms: every hop is full.
      const IDLE = 250;
      const MAX_SENDS = 5000;
      const deadline = Date.now() + 15_000;
      let sent = 0;
      let blocked: Promise<void> | null = null;
      while (blocked === null) {
        if (sent >= MAX_SENDS || Date.now() > deadline) {
          throw new Error(`the PUSH never blocked: ${sent} messages of ${SIZE} B sent to a PULL that reads nothing`);
        }
        const p = push.send(message(sent));
        const outcome = await Promise.race([p.then(() => "sent" as const), tick(IDLE).then(() => "blocked" as const)]);
        if (outcome === "blocked") blocked = p;
        else sent++;
      }
      // Each hop holds about HWM messages; the transport adds what its
      // buffers hold, bounded by bytes: the kernel's socket buffers (TCP's
      // autotuning may grow them to tcp_rmem/tcp_wmem's maximum: 32 MiB +
      // 4 MiB on some machines), plus 16 MiB for a link's write buffer, read
      // slabs and the bridge's delivery backlog.
      const IN_TRANSIT_BYTES = KERNEL_SOCKET_BUFFER_MAX + 16 * 1024 * 1024;
      console.log(`[${t.scheme}] PUSH blocked after ${sent} messages of ${SIZE} B (HWM ${HWM})`);
      expect(sent).toBeGreaterThanOrEqual(HWM);
      expect(sent).toBeLessThanOrEqual(4 * HWM + IN_TRANSIT_BYTES / SIZE);

      // Reading again: the blocked send completes, and every message arrives, in order.
      const MORE = 50;
      const total = sent + 1 + MORE;
      const reader = (async () => {
        for (let seq = 0; seq < total; seq++) {
          const [m] = await within(pull.receive(), WAIT, `message ${seq}`);
          expect(m?.length).toBe(SIZE);
          expect(m?.readUInt32BE(0)).toBe(seq);
          expect(m?.[SIZE - 1]).toBe(seq & 0xff);
        }
      })();
      await within(blocked, WAIT, "the blocked send to complete once the reader reads");
      for (let seq = sent + 1; seq < total; seq++) await within(push.send(message(seq)), WAIT, `send ${seq}`);
      await reader;
    });

    it("a REQ's request goes through after its REP peer's process is killed and started again on the same endpoint", async () => {
      vtx = vtxWith(t);
      const port = await freePort();
      const endpoint = t.endpointAt(port);
      const first = await spawnFixture("rep-server.mjs", [t.scheme, endpoint, JSON.stringify(t.spec())]);
      children.push(first);
      await first.line(/^ready /, 10_000);

      const req = vtx.socket("REQ", { linger: 0 });
      // Retry quickly while the peer is away (the default backoff grows to 5 s).
      await vtx.connect(req, endpoint, { reconnectInterval: 50, reconnectIntervalMax: 250 });
      await within(req.send("one"), WAIT, "request one");
      expect(strs(await within(req.receive(), WAIT, "reply one"))).toEqual([`pid ${first.pid}`, "one"]);

      const down = expectEvent(vtx, (e) => e.socket === req && e.type === "disconnected", WAIT, "REQ sees its peer go");
      await first.kill();
      await down;
      // Sent while nobody is there: it waits in the endpoint's bridge.
      await within(req.send("two"), WAIT, "request two while the peer is down");
      const back = expectEvent(vtx, (e) => e.socket === req && e.type === "connected", 15_000, "REQ reconnected");
      const second = await spawnFixture("rep-server.mjs", [t.scheme, endpoint, JSON.stringify(t.spec())]);
      children.push(second);
      await second.line(/^ready /, 10_000);
      await back;
      expect(strs(await within(req.receive(), WAIT, "reply two from the new process"))).toEqual([`pid ${second.pid}`, "two"]);
      await within(req.send("three"), WAIT, "request three");
      expect(strs(await within(req.receive(), WAIT, "reply three"))).toEqual([`pid ${second.pid}`, "three"]);
    });

    it("a SUB keeps its subscriptions when its publisher goes away and comes back on the same endpoint", async () => {
      vtx = vtxWith(t);
      const port = await freePort();
      const endpoint = t.endpointAt(port);
      const publisher = async (): Promise<[Vtx, zmq.Publisher]> => {
        const v = vtxWith(t);
        others.push(v);
        const pub = v.socket("PUB", { linger: 0 });
        await v.bind(pub, endpoint);
        return [v, pub];
      };
      const [v1, pub1] = await publisher();
      const sub = vtx.socket("SUB", { linger: 0 });
      sub.subscribe("news");
      await vtx.connect(sub, endpoint, { reconnectInterval: 50, reconnectIntervalMax: 250 });
      await publishUntilSeen(pub1, sub, ["news-probe"]);

      const down = expectEvent(vtx, (e) => e.socket === sub && e.type === "disconnected", WAIT, "SUB sees its publisher go");
      await v1.destroy();
      await down;
      const back = expectEvent(vtx, (e) => e.socket === sub && e.type === "connected", WAIT, "SUB reconnected");
      const [, pub2] = await publisher();
      await back;
      // The new publisher knows nothing: only a resent subscription gets "news" through.
      await publishUntilSeen(pub2, sub, ["news-again"]);
      await within(pub2.send(["other"]), WAIT, "publish other");
      await within(pub2.send(["news-end"]), WAIT, "publish news-end");
      expectFrames(await receiveSkipping(sub, "news-again", WAIT, "news-end"), ["news-end"]);
    });
  });
}
