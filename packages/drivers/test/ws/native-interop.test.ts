/**
 * vtx's ws:// driver against libzmq's own ws:// (zeromq.js 6.8's prebuilt
 * libzmq 4.3.5 has it), both directions: a vtx socket in a Vtx that
 * registered the "ws" driver, and a plain zeromq.js socket, for which
 * `ws://` goes to libzmq natively.
 *
 * libzmq's ws client masks the frames it sends in place (RFC 6455 §5.3
 * masking, done on the message's own bytes): a Buffer of more than 128 B
 * that zeromq.js hands over zero-copy comes back XOR-ed. Native sockets here
 * therefore send copies, and the originals stay the expected values.
 */
import { randomBytes } from "node:crypto";
import * as zmq from "zeromq";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Vtx } from "@vtx/runtime";
import { ws } from "@vtx/drivers";
import { buf, expectEvent, expectFrames, publishUntilSeen, receiveSkipping, within } from "../helpers.js";

const WAIT = 5000;
const MIB = 1 << 20;

type NativeSock = { send(m: Buffer[]): Promise<void>; receive(): Promise<Buffer[]>; close(): void };
type AnySock = { send(m: Buffer[] | Buffer | string): Promise<void>; receive(): Promise<Buffer[]> };

/** A native send of copies (libzmq's ws client masks zero-copy Buffers in place). */
const nativeSend = (s: NativeSock, frames: Array<string | Buffer>): Promise<void> =>
  within(s.send(frames.map((f) => Buffer.from(buf(f)))), WAIT, "native send");
const recv = (s: AnySock, what: string): Promise<Buffer[]> => within(s.receive(), WAIT, what);

describe("ws:// interop with libzmq's native ws://", () => {
  /** A ZAP handler (RFC 27) for native PLAIN servers: ann/s3cret passes. */
  let zap: zmq.Router;
  beforeAll(async () => {
    zap = new zmq.Router({ linger: 0 });
    await zap.bind("inproc://zeromq.zap.01");
    void (async () => {
      try {
        for await (const [id, delim, version, requestId, , , , , user, pass] of zap) {
          const ok = user?.toString() === "ann" && pass?.toString() === "s3cret";
          await zap.send([id!, delim!, version!, requestId!, ok ? "200" : "400", ok ? "OK" : "denied", ok ? (user ?? "") : "", ""]);
        }
      } catch {
        // closed
      }
    })();
  });
  afterAll(() => zap.close());

  let vtx: Vtx;
  let natives: NativeSock[] = [];
  afterEach(async () => {
    for (const n of natives) n.close();
    natives = [];
    await vtx?.destroy();
  });

  function fresh(options: ConstructorParameters<typeof Vtx>[0] = {}): Vtx {
    vtx = new Vtx(options);
    vtx.register("ws", ws());
    return vtx;
  }

  function native<T extends NativeSock>(s: T): T {
    natives.push(s);
    return s;
  }

  /** Joins a vtx socket and a native one; `vtxBinds` picks who binds. */
  async function join(v: Parameters<Vtx["bind"]>[0], n: { bind(ep: string): Promise<void>; connect(ep: string): void; lastEndpoint: string | null }, vtxBinds: boolean, options?: object): Promise<void> {
    const up = expectEvent(vtx, (e) => e.socket === v && e.type === "connected", WAIT, "ws link up");
    if (vtxBinds) {
      const ep = await vtx.bind(v, "ws://127.0.0.1:0/zmq", options);
      n.connect(ep);
    } else {
      await n.bind("ws://127.0.0.1:*/zmq");
      await vtx.connect(v, n.lastEndpoint!, options);
    }
    await up;
  }

  for (const vtxBinds of [true, false]) {
    const role = vtxBinds ? "vtx binds, native connects" : "native binds, vtx connects";

    describe(role, () => {
      it("REQ/REP both ways round: multipart, empty frames and a 1 MiB body, byte for byte", async () => {
        fresh();
        const bodies: Array<Array<string | Buffer>> = [["one", "", "three"], [randomBytes(MIB)], ["head", randomBytes(MIB), ""]];
        // vtx REQ → native REP
        const req = vtx.socket("REQ");
        const rep = native(new zmq.Reply());
        await join(req, rep, vtxBinds);
        for (const b of bodies) {
          await within(req.send(b), WAIT, "vtx request");
          expectFrames(await recv(rep, "request at native REP"), b, "request at native REP");
          await nativeSend(rep, ["re", ...b]);
          expectFrames(await recv(req, "reply at vtx REQ"), ["re", ...b], "reply at vtx REQ");
        }
        // native REQ → vtx REP
        const vrep = vtx.socket("REP");
        const nreq = native(new zmq.Request());
        await join(vrep, nreq, vtxBinds);
        for (const b of bodies) {
          await nativeSend(nreq, b);
          expectFrames(await recv(vrep, "request at vtx REP"), b, "request at vtx REP");
          await within(vrep.send(["re", ...b]), WAIT, "vtx reply");
          expectFrames(await recv(nreq, "reply at native REQ"), ["re", ...b], "reply at native REQ");
        }
      });

      it("PUB/SUB filters by topic both ways (subscriptions cross as \\x01topic messages)", async () => {
        fresh();
        // vtx PUB → native SUB
        const pub = vtx.socket("PUB");
        const sub = new zmq.Subscriber();
        native(sub);
        sub.subscribe("a");
        await join(pub, sub, vtxBinds);
        await publishUntilSeen(pub, sub, ["a-probe"]);
        await pub.send(["b", "not for you"]);
        await pub.send(["a", "for you"]);
        expectFrames(await receiveSkipping(sub, "a-probe", WAIT, "native SUB"), ["a", "for you"]);
        // native PUB → vtx SUB, with an unsubscribe
        const npub = native(new zmq.Publisher());
        const vsub = vtx.socket("SUB");
        vsub.subscribe("x");
        await join(vsub, npub, vtxBinds);
        await publishUntilSeen({ send: (m) => npub.send((Array.isArray(m) ? m : [m]).map((f) => Buffer.from(f))) }, vsub, ["x-probe"]);
        await nativeSend(npub, ["y", "filtered out"]);
        await nativeSend(npub, ["x", "wanted"]);
        expectFrames(await receiveSkipping(vsub, "x-probe", WAIT, "vtx SUB"), ["x", "wanted"]);
      });

      it("PUSH/PULL both ways, in order", async () => {
        fresh();
        const push = vtx.socket("PUSH");
        const pull = native(new zmq.Pull());
        await join(push, pull, vtxBinds);
        for (let i = 0; i < 50; i++) await within(push.send(`m${i}`), WAIT, "vtx push");
        for (let i = 0; i < 50; i++) expectFrames(await recv(pull, "native pull"), [`m${i}`]);
        const npush = native(new zmq.Push());
        const vpull = vtx.socket("PULL");
        await join(vpull, npush, vtxBinds);
        for (let i = 0; i < 50; i++) await nativeSend(npush, [`n${i}`, randomBytes(200)]);
        for (let i = 0; i < 50; i++) expect((await recv(vpull, "vtx pull"))[0]!.toString()).toBe(`n${i}`);
      });

      it("DEALER/ROUTER: routing ids cross both ways and replies route back by them", async () => {
        fresh();
        // vtx DEALER (identity) → native ROUTER
        const dealer = vtx.socket("DEALER", { routingId: "vtx-dealer" });
        const router = native(new zmq.Router());
        await join(dealer, router, vtxBinds);
        await within(dealer.send(["hi"]), WAIT, "vtx dealer send");
        expectFrames(await recv(router, "native ROUTER"), ["vtx-dealer", "hi"]);
        await nativeSend(router, ["vtx-dealer", "back"]);
        expectFrames(await recv(dealer, "vtx DEALER"), ["back"]);
        // native DEALER (identity) → vtx ROUTER
        const vrouter = vtx.socket("ROUTER");
        const ndealer = native(new zmq.Dealer({ routingId: "native-dealer" }));
        await join(vrouter, ndealer, vtxBinds);
        await nativeSend(ndealer, ["hello"]);
        expectFrames(await recv(vrouter, "vtx ROUTER"), ["native-dealer", "hello"]);
        await within(vrouter.send(["native-dealer", "routed"]), WAIT, "vtx router send");
        expectFrames(await recv(ndealer, "native DEALER"), ["routed"]);
      });

      it("PLAIN (ZWS2.0/PLAIN): right credentials are served both ways, a wrong password is refused with ZMTP_AUTH_FAILED", async () => {
        fresh({ authenticate: ({ username, password }) => username === "ann" && password === "s3cret" });
        // vtx PLAIN server, native PLAIN client with the right password.
        const rep = vtx.socket("REP", { plainServer: true });
        const req = native(new zmq.Request({ plainUsername: "ann", plainPassword: "s3cret" }));
        await join(rep, req, vtxBinds);
        await nativeSend(req, ["knock"]);
        expectFrames(await recv(rep, "vtx PLAIN server"), ["knock"]);
        await within(rep.send("come in"), WAIT, "reply");
        expectFrames(await recv(req, "native PLAIN client"), ["come in"]);
        // vtx PLAIN client, native PLAIN server (checking with the ZAP handler).
        const vreq = vtx.socket("REQ", { plainUsername: "ann", plainPassword: "s3cret" });
        const nrep = native(new zmq.Reply({ plainServer: true }));
        await join(vreq, nrep, vtxBinds);
        await within(vreq.send("hi"), WAIT, "vtx PLAIN client send");
        expectFrames(await recv(nrep, "native PLAIN server"), ["hi"]);
        // A vtx client with a wrong password: the native server refuses it.
        const vbad = vtx.socket("REQ", { plainUsername: "ann", plainPassword: "wrong" });
        const nrep2 = native(new zmq.Reply({ plainServer: true }));
        const clientRefused = expectEvent(vtx, (e) => e.socket === vbad && e.type === "handshake-failed", WAIT, "vtx PLAIN client refused");
        if (vtxBinds) nrep2.connect(await vtx.bind(vbad, "ws://127.0.0.1:0/zmq"));
        else {
          await nrep2.bind("ws://127.0.0.1:*/zmq");
          await vtx.connect(vbad, nrep2.lastEndpoint!);
        }
        expect((await clientRefused).error?.code).toBe("ZMTP_AUTH_FAILED");
        // A native client with a wrong password: the vtx server refuses it.
        const rep2 = vtx.socket("REP", { plainServer: true });
        const wrong = native(new zmq.Request({ plainUsername: "ann", plainPassword: "nope" }));
        const refused = expectEvent(vtx, (e) => e.socket === rep2 && e.type === "handshake-failed", WAIT, "vtx PLAIN server refuses");
        if (vtxBinds) wrong.connect(await vtx.bind(rep2, "ws://127.0.0.1:0/zmq"));
        else {
          await wrong.bind("ws://127.0.0.1:*/zmq");
          await vtx.connect(rep2, wrong.lastEndpoint!);
        }
        expect((await refused).error?.code).toBe("ZMTP_AUTH_FAILED");
      });
    });
  }

  it("a Vtx without a registered ws driver hands ws:// to libzmq, side by side with one that has it", async () => {
    fresh();
    const plain = new Vtx();
    try {
      const nrep = plain.socket("REP");
      const ep = await plain.bind(nrep, "ws://127.0.0.1:*/native");
      // libzmq's own answer: the port it picked, no vtx "listening" event.
      expect(ep).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/native$/);
      const req = vtx.socket("REQ");
      await vtx.connect(req, ep);
      await within(req.send("to libzmq"), WAIT, "send");
      expectFrames(await recv(nrep, "native bind via a plain Vtx"), ["to libzmq"]);
    } finally {
      await plain.destroy();
    }
  });

  it("an idle link stays up past the heartbeat timeout: WebSocket pings from both ends are answered", async () => {
    fresh({ link: { heartbeatInterval: 100, heartbeatTimeout: 400 } });
    const pull = vtx.socket("PULL");
    const push = native(new zmq.Push({ heartbeatInterval: 100, heartbeatTimeout: 400 }));
    await join(pull, push, true);
    const dropped = expectEvent(vtx, (e) => e.socket === pull && e.type === "disconnected", 1500, "no disconnect");
    await expect(dropped).rejects.toThrow(/no matching vtx event/);
    await nativeSend(push, ["still here"]);
    expectFrames(await recv(pull, "after idling"), ["still here"]);
  });
});
