/**
 * Interop: a vtx socket over a virtual transport against a native libzmq
 * socket over the native transport that speaks the same wire (ztcp:// ↔
 * tcp://). Every compatible pair of RFC 37's table, each with vtx holding
 * either type and either binding or connecting; multipart messages, empty
 * frames, 0 B and 1 MiB bodies; routing ids; PLAIN both ways; an
 * incompatible pair refused with a coded error.
 */
import { randomBytes } from "node:crypto";
import * as zmq from "zeromq";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createSocket, type AnySocket, type SocketTypeName, type Vtx, type VtxEvent } from "@vtx/runtime";
import {
  buf,
  expectEvent,
  expectFrames,
  publishUntilSeen,
  receiveSkipping,
  testTransports,
  tick,
  vtxWith,
  within,
  type TransportCase,
} from "./helpers.js";

const WAIT = 5000;
const MIB = 1 << 20;
const SUBSCRIBE = 1;
const CANCEL = 0;

/** What every compatible pair carries, each way the pattern allows. */
const PAYLOADS: Array<{ name: string; frames: Buffer[] }> = [
  { name: "multipart", frames: ["one", "two", "three"].map(buf) },
  { name: "empty frames", frames: ["", "middle", ""].map(buf) },
  { name: "0 B body", frames: [Buffer.alloc(0)] },
  { name: "1 MiB body", frames: [randomBytes(MIB)] },
  { name: "1 MiB between small frames", frames: [buf("head"), randomBytes(MIB), buf("")] },
];

// Loose socket shapes: a test body drives whichever side is vtx or native.
type Sock = AnySocket & {
  send(m: Array<Buffer | string> | Buffer | string): Promise<void>;
  receive(): Promise<Buffer[]>;
};

const recv = (s: Sock, what: string): Promise<Buffer[]> => within(s.receive(), WAIT, what);
/** A send that would block forever (no peer ever attached) fails the test instead. */
const send = (s: Sock, m: Array<Buffer | string> | Buffer | string): Promise<void> => within(s.send(m), WAIT, "send");
const reply = (p: Buffer[]): Buffer[] => [buf("reply"), ...p];

interface PairCase {
  a: SocketTypeName;
  b: SocketTypeName;
  /** zeromq.js options per side (routing ids, so the peer's view can be checked). */
  options?: { a?: object; b?: object };
  setup?(a: Sock, b: Sock): Promise<void>;
  /** Sends `p` across (and back where the pattern allows) and checks every byte. */
  exchange(a: Sock, b: Sock, p: Buffer[]): Promise<void>;
  finish?(a: Sock, b: Sock): Promise<void>;
}

const PROBE = "a-probe";
let pendingAtXsub: Promise<Buffer[]> | undefined;

const PAIRS: PairCase[] = [
  {
    a: "REQ",
    b: "REP",
    async exchange(req, rep, p) {
      await send(req, p);
      expectFrames(await recv(rep, "request at REP"), p, "request at REP");
      await send(rep, reply(p));
      expectFrames(await recv(req, "reply at REQ"), reply(p), "reply at REQ");
    },
  },
  {
    a: "REQ",
    b: "ROUTER",
    options: { a: { routingId: "req-7" } },
    async exchange(req, router, p) {
      await send(req, p);
      // The ROUTER sees the REQ's routing id, then the REQ envelope's empty delimiter.
      expectFrames(await recv(router, "request at ROUTER"), ["req-7", "", ...p], "request at ROUTER");
      await send(router, [buf("req-7"), buf(""), ...reply(p)]);
      expectFrames(await recv(req, "reply at REQ"), reply(p), "reply at REQ");
    },
  },
  {
    a: "DEALER",
    b: "REP",
    async exchange(dealer, rep, p) {
      await send(dealer, [buf(""), ...p]);
      expectFrames(await recv(rep, "request at REP"), p, "request at REP");
      await send(rep, reply(p));
      expectFrames(await recv(dealer, "reply at DEALER"), ["", ...reply(p)], "reply at DEALER");
    },
  },
  {
    a: "DEALER",
    b: "ROUTER",
    options: { a: { routingId: "dealer-9" } },
    async exchange(dealer, router, p) {
      await send(dealer, p);
      expectFrames(await recv(router, "message at ROUTER"), ["dealer-9", ...p], "message at ROUTER");
      await send(router, [buf("dealer-9"), ...reply(p)]);
      expectFrames(await recv(dealer, "reply at DEALER"), reply(p), "reply at DEALER");
    },
  },
  {
    a: "DEALER",
    b: "DEALER",
    async exchange(x, y, p) {
      await send(x, p);
      expectFrames(await recv(y, "message at DEALER b"), p);
      await send(y, reply(p));
      expectFrames(await recv(x, "reply at DEALER a"), reply(p));
    },
  },
  {
    a: "PUB",
    b: "SUB",
    async setup(pub, sub) {
      (sub as unknown as zmq.Subscriber).subscribe("a");
      await publishUntilSeen(pub, sub, [PROBE]);
    },
    async exchange(pub, sub, p) {
      // Topic "b" is filtered out; "a…" arrives, with every frame intact.
      await send(pub, [buf("b"), ...p]);
      await send(pub, [buf("a"), ...p]);
      expectFrames(await receiveSkipping(sub, PROBE, WAIT, "message at SUB"), ["a", ...p], "message at SUB");
    },
  },
  {
    a: "XPUB",
    b: "XSUB",
    async setup(xpub, xsub) {
      // A subscriber that reads: libzmq attaches a new peer's pipe (and
      // sends it the subscriptions) only when the socket processes its
      // commands, i.e. inside a send/receive; a bound XSUB that subscribed
      // and then sits idle never tells a newly connected XPUB (the same
      // with two native sockets over tcp://).
      pendingAtXsub = xsub.receive();
      pendingAtXsub.catch(() => undefined);
      await send(xsub, Buffer.from([SUBSCRIBE, ...buf("a")]));
      // The XPUB sees the subscription itself: no probing needed.
      expectFrames(await recv(xpub, "subscription at XPUB"), [Buffer.from([SUBSCRIBE, ...buf("a")])]);
    },
    async exchange(xpub, xsub, p) {
      await send(xpub, [buf("b"), ...p]);
      await send(xpub, [buf("a"), ...p]);
      const next = pendingAtXsub ?? xsub.receive();
      pendingAtXsub = undefined;
      expectFrames(await within(next, WAIT, "message at XSUB"), ["a", ...p], "message at XSUB");
    },
    async finish(xpub, xsub) {
      await send(xsub, Buffer.from([CANCEL, ...buf("a")]));
      expectFrames(await recv(xpub, "cancel at XPUB"), [Buffer.from([CANCEL, ...buf("a")])]);
    },
  },
  {
    a: "PUSH",
    b: "PULL",
    async exchange(push, pull, p) {
      await send(push, p);
      expectFrames(await recv(pull, "message at PULL"), p);
    },
  },
  {
    a: "PAIR",
    b: "PAIR",
    async exchange(x, y, p) {
      await send(x, p);
      expectFrames(await recv(y, "message at PAIR b"), p);
      await send(y, reply(p));
      expectFrames(await recv(x, "reply at PAIR a"), reply(p));
    },
  },
];

/** Binds one side and connects the other, vtx on the virtual transport, native on its wire twin. */
async function join(vtx: Vtx, t: TransportCase, vs: AnySocket, ns: AnySocket, vtxBinds: boolean, bindEndpoint = t.bindEndpoint()): Promise<void> {
  if (vtxBinds) {
    const ep = await vtx.bind(vs, bindEndpoint);
    ns.connect(t.native!(ep));
  } else {
    await ns.bind(t.native!(bindEndpoint));
    await vtx.connect(vs, t.fromNative!(ns.lastEndpoint!));
  }
}

for (const t of testTransports("ztcp").filter((x) => x.native && x.fromNative)) {
  describe(`interop: vtx over ${t.scheme}:// with native libzmq`, () => {
    let vtx: Vtx;
    let natives: AnySocket[] = [];
    let vtxSockets: AnySocket[] = [];

    const nativeSocket = <T extends SocketTypeName>(type: T, options: object = {}): Sock => {
      const s = createSocket(type, { linger: 0, ...options });
      natives.push(s);
      return s as unknown as Sock;
    };
    const vtxSocket = <T extends SocketTypeName>(type: T, options: object = {}): Sock => {
      const s = vtx.socket(type, { linger: 0, ...options });
      vtxSockets.push(s);
      return s as unknown as Sock;
    };

    beforeAll(() => {
      vtx = vtxWith(t, {
        authenticate: ({ username, password }) => username === "admin" && password === "secret",
      });
    });
    afterEach(async () => {
      for (const s of natives) s.close();
      for (const s of vtxSockets) await vtx.close(s);
      natives = [];
      vtxSockets = [];
    });
    afterAll(async () => {
      await vtx?.destroy();
    });

    describe("every compatible pair, each role and direction", () => {
      for (const c of PAIRS) {
        const sides: Array<"a" | "b"> = c.a === c.b ? ["a"] : ["a", "b"];
        for (const vtxSide of sides) {
          for (const vtxBinds of [true, false]) {
            const vtxType = vtxSide === "a" ? c.a : c.b;
            const nativeType = vtxSide === "a" ? c.b : c.a;
            it(`${c.a}/${c.b}: vtx ${vtxType} ${vtxBinds ? "binds" : "connects"}, native ${nativeType} ${vtxBinds ? "connects" : "binds"}`, async () => {
              const vs = vtxSocket(vtxType, c.options?.[vtxSide] ?? {});
              const ns = nativeSocket(nativeType, c.options?.[vtxSide === "a" ? "b" : "a"] ?? {});
              await join(vtx, t, vs, ns, vtxBinds);
              const [a, b] = vtxSide === "a" ? [vs, ns] : [ns, vs];
              await c.setup?.(a, b);
              for (const p of PAYLOADS) await c.exchange(a, b, p.frames);
              await c.finish?.(a, b);
            });
          }
        }
      }
    });

    describe.runIf(t.bindEndpoint6 !== undefined)("IPv6 loopback", () => {
      for (const c of PAIRS.filter((p) => ["REQ/REP", "DEALER/ROUTER", "PUB/SUB"].includes(`${p.a}/${p.b}`))) {
        for (const vtxBinds of [true, false]) {
          it(`${c.a}/${c.b} over [::1]: vtx ${c.a} ${vtxBinds ? "binds" : "connects"}, native ${c.b} (ipv6) ${vtxBinds ? "connects" : "binds"}`, async () => {
            const vs = vtxSocket(c.a, c.options?.a ?? {});
            const ns = nativeSocket(c.b, { ipv6: true, ...(c.options?.b ?? {}) });
            await join(vtx, t, vs, ns, vtxBinds, t.bindEndpoint6!());
            await c.setup?.(vs, ns);
            for (const p of PAYLOADS) await c.exchange(vs, ns, p.frames);
          });
        }
      }
    });

    describe("routing ids", () => {
      for (const vtxBinds of [true, false]) {
        it(`a native DEALER's routing id reaches a vtx ROUTER, and replies route back by it (vtx ${vtxBinds ? "binds" : "connects"})`, async () => {
          const router = vtxSocket("ROUTER");
          const d1 = nativeSocket("DEALER", { routingId: "alpha" });
          await join(vtx, t, router, d1, vtxBinds);
          await send(d1, "from alpha");
          expectFrames(await recv(router, "at ROUTER"), ["alpha", "from alpha"]);
          await send(router, ["alpha", "to alpha"]);
          expectFrames(await recv(d1, "at DEALER"), ["to alpha"]);
        });

        it(`a vtx DEALER's routing id reaches a native ROUTER (vtx ${vtxBinds ? "binds" : "connects"})`, async () => {
          const dealer = vtxSocket("DEALER", { routingId: "beta" });
          const router = nativeSocket("ROUTER");
          await join(vtx, t, dealer, router, vtxBinds);
          await send(dealer, "from beta");
          expectFrames(await recv(router, "at ROUTER"), ["beta", "from beta"]);
          await send(router, ["beta", "to beta"]);
          expectFrames(await recv(dealer, "at DEALER"), ["to beta"]);
        });
      }
    });

    describe("a connecting ROUTER whose peer restarts under another identity", () => {
      /** Binds `ep` again once the closed socket that had it let go of the port (bounded). */
      const rebind = async (s: AnySocket, ep: string): Promise<void> => {
        for (let i = 0; ; i++) {
          try {
            await s.bind(ep);
            return;
          } catch (err) {
            if (i >= 100 || (err as { code?: string }).code !== "EADDRINUSE") throw err;
            await tick(20);
          }
        }
      };
      for (const routerSide of ["native", "vtx"] as const) {
        it(`a ${routerSide} ROUTER keeps the identity the peer announced first (libzmq's behaviour is the reference)`, async () => {
          const router = routerSide === "vtx" ? vtxSocket("ROUTER") : nativeSocket("ROUTER", { reconnectInterval: 50 });
          const first = nativeSocket("DEALER", { routingId: "alpha" });
          await first.bind(t.native!(t.bindEndpoint()));
          const ep = first.lastEndpoint!;
          if (routerSide === "vtx") await vtx.connect(router, t.fromNative!(ep), { reconnectInterval: 50, reconnectIntervalMax: 100 });
          else router.connect(ep);
          await send(first, "from alpha");
          expectFrames(await recv(router, "first message"), ["alpha", "from alpha"]);

          first.close();
          const second = nativeSocket("DEALER", { routingId: "beta" });
          await rebind(second, ep);
          await send(second, "from beta");
          expectFrames(await recv(router, "message after the restart"), ["alpha", "from beta"]);
          await send(router, ["alpha", "to the restarted peer"]);
          expectFrames(await recv(second, "reply after the restart"), ["to the restarted peer"]);
        });
      }
    });

    describe("PLAIN (RFC 24)", () => {
      /** A ZAP handler (RFC 27) for native PLAIN servers: admin/secret passes. */
      let zap: zmq.Router;
      const zapSeen: Array<{ mechanism: string; username: string }> = [];
      beforeAll(async () => {
        zap = new zmq.Router({ linger: 0 });
        await zap.bind("inproc://zeromq.zap.01");
        void (async () => {
          try {
            for await (const [id, delim, version, requestId, , , , mechanism, user, pass] of zap) {
              const m = mechanism?.toString() ?? "";
              const ok = m !== "PLAIN" || (user?.toString() === "admin" && pass?.toString() === "secret");
              if (m === "PLAIN") zapSeen.push({ mechanism: m, username: user?.toString() ?? "" });
              await zap.send([id!, delim!, version!, requestId!, ok ? "200" : "400", ok ? "OK" : "denied", ok ? (user ?? "") : "", ""]);
            }
          } catch {
            // Closed in afterAll.
          }
        })();
      });
      afterAll(() => {
        zap.close();
      });

      for (const vtxBinds of [true, false]) {
        const dir = `vtx ${vtxBinds ? "binds" : "connects"}`;

        it(`a native PLAIN client with the right password is served by a vtx PLAIN server (${dir})`, async () => {
          const rep = vtxSocket("REP", { plainServer: true });
          const req = nativeSocket("REQ", { plainUsername: "admin", plainPassword: "secret" });
          await join(vtx, t, rep, req, vtxBinds);
          await send(req, "let me in");
          expectFrames(await recv(rep, "request at vtx REP"), ["let me in"]);
          await send(rep, "welcome");
          expectFrames(await recv(req, "reply at native REQ"), ["welcome"]);
        });

        it(`a native PLAIN client with a wrong password is refused by a vtx PLAIN server (${dir})`, async () => {
          const rep = vtxSocket("REP", { plainServer: true });
          const req = nativeSocket("REQ", { plainUsername: "admin", plainPassword: "guess" });
          const refused = expectEvent(vtx, (e) => e.socket === rep && e.type === "handshake-failed", WAIT, "handshake-failed at the vtx server");
          const nativeSaw = new Promise<string>((resolve) => req.events.on("handshake:error:auth", (e) => resolve(e.type)));
          await join(vtx, t, rep, req, vtxBinds);
          const e: VtxEvent = await refused;
          expect(e.error?.code).toBe("ZMTP_AUTH_FAILED");
          expect(await within(nativeSaw, WAIT, "native handshake:error:auth")).toBe("handshake:error:auth");
          expect(rep.readable).toBe(false);
        });

        it(`a vtx PLAIN client with the right password is served by a native PLAIN server (${dir})`, async () => {
          const req = vtxSocket("REQ", { plainUsername: "admin", plainPassword: "secret" });
          const rep = nativeSocket("REP", { plainServer: true });
          zapSeen.length = 0;
          await join(vtx, t, req, rep, vtxBinds);
          await send(req, "let me in");
          expectFrames(await recv(rep, "request at native REP"), ["let me in"]);
          await send(rep, "welcome");
          expectFrames(await recv(req, "reply at vtx REQ"), ["welcome"]);
          expect(zapSeen).toContainEqual({ mechanism: "PLAIN", username: "admin" });
        });

        it(`a vtx PLAIN client with a wrong password is refused by a native PLAIN server (${dir})`, async () => {
          const req = vtxSocket("REQ", { plainUsername: "admin", plainPassword: "guess" });
          const rep = nativeSocket("REP", { plainServer: true });
          const refused = expectEvent(vtx, (e) => e.socket === req && e.type === "handshake-failed", WAIT, "handshake-failed at the vtx client");
          const nativeSaw = new Promise<string>((resolve) => rep.events.on("handshake:error:auth", (e) => resolve(e.type)));
          await join(vtx, t, req, rep, vtxBinds);
          const e: VtxEvent = await refused;
          expect(e.error?.code).toBe("ZMTP_AUTH_FAILED");
          expect(await within(nativeSaw, WAIT, "native handshake:error:auth")).toBe("handshake:error:auth");
          expect(rep.readable).toBe(false);
        });
      }
    });

    describe("incompatible socket types", () => {
      for (const vtxBinds of [true, false]) {
        it(`a vtx PUSH and a native PUB refuse each other with ZMTP_INCOMPATIBLE_SOCKET_TYPE (vtx ${vtxBinds ? "binds" : "connects"})`, async () => {
          const push = vtxSocket("PUSH");
          const pub = nativeSocket("PUB");
          const refused = expectEvent(vtx, (e) => e.socket === push && e.type === "handshake-failed", WAIT, "handshake-failed at the vtx PUSH");
          // libzmq 4.3.5 checks Socket-Type silently: no handshake event, it
          // just drops the connection (and never reports a handshake success).
          const nativeSaw: string[] = [];
          const nativeDropped = new Promise<void>((resolve) => {
            pub.events.on("handshake", (e) => nativeSaw.push(e.type));
            pub.events.on("disconnect", () => resolve());
          });
          await join(vtx, t, push, pub, vtxBinds);
          const e = await refused;
          expect(e.error?.code).toBe("ZMTP_INCOMPATIBLE_SOCKET_TYPE");
          await within(nativeDropped, WAIT, "native peer dropping the connection");
          expect(nativeSaw).toEqual([]);
        });
      }
    });
  });
}
