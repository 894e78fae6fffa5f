/**
 * CURVE through vtx over ztcp against native zeromq.js CURVE sockets on
 * tcp://: the socket's zeromq.js CURVE options carry over to the virtual
 * endpoint, both roles, and failures surface as handshake-failed events
 * with a code.
 */
import * as zmq from "zeromq";
import { afterEach, describe, expect, it } from "vitest";
import type { Vtx, VtxEvent } from "@vtx/runtime";
import { TRANSPORTS, strs, vtxWith, within } from "../helpers.js";

const WAIT = 5000;
const t = TRANSPORTS.ztcp!;
let vtx: Vtx | undefined;
const natives: zmq.Socket[] = [];
afterEach(async () => {
  for (const s of natives.splice(0)) s.close();
  await vtx?.destroy();
  vtx = undefined;
});

function native<T extends zmq.Socket>(s: T): T {
  natives.push(s);
  return s;
}

function nextEvent(v: Vtx, type: VtxEvent["type"]): Promise<VtxEvent> {
  return new Promise((resolve) => {
    const off = v.on((e) => {
      if (e.type === type) {
        off();
        resolve(e);
      }
    });
  });
}

describe("CURVE over ztcp against native CURVE sockets", () => {
  it("a vtx REQ (curveServerKey + its own pair) talks to a native CURVE REP on tcp://", async () => {
    const server = zmq.curveKeyPair();
    const client = zmq.curveKeyPair();
    const rep = native(new zmq.Reply({ linger: 0, curveServer: true, curveSecretKey: server.secretKey, curvePublicKey: server.publicKey }));
    await rep.bind("tcp://127.0.0.1:*");
    vtx = vtxWith(t);
    const connected = nextEvent(vtx, "connected");
    const req = vtx.socket("REQ", { curveServerKey: server.publicKey, curvePublicKey: client.publicKey, curveSecretKey: client.secretKey });
    await vtx.connect(req, t.fromNative!(rep.lastEndpoint!));
    await within(connected, WAIT, "connected event");
    await req.send(["hello", Buffer.alloc(100_000, 1)]);
    const got = await within(rep.receive(), WAIT, "request at the native REP");
    expect(got[0]!.toString()).toBe("hello");
    expect(got[1]!.length).toBe(100_000);
    await rep.send("world");
    expect(strs(await within(req.receive(), WAIT, "reply"))).toEqual(["world"]);
  });

  it("a native CURVE client reaches a vtx CURVE server bound on ztcp://", async () => {
    const server = zmq.curveKeyPair();
    const client = zmq.curveKeyPair();
    vtx = vtxWith(t);
    const rep = vtx.socket("REP", { curveServer: true, curveSecretKey: server.secretKey, curvePublicKey: server.publicKey });
    const ep = await vtx.bind(rep, t.bindEndpoint());
    const req = native(new zmq.Request({ linger: 0, curveServerKey: server.publicKey, curvePublicKey: client.publicKey, curveSecretKey: client.secretKey }));
    req.connect(t.native!(ep));
    await req.send("ping");
    expect(strs(await within(rep.receive(), WAIT, "request at vtx"))).toEqual(["ping"]);
    await rep.send("pong");
    expect(strs(await within(req.receive(), WAIT, "reply at native"))).toEqual(["pong"]);
  });

  it("a vtx client with the wrong server key gets handshake-failed ZMTP_CURVE_REJECTED", async () => {
    const server = zmq.curveKeyPair();
    const rep = native(new zmq.Reply({ linger: 0, curveServer: true, curveSecretKey: server.secretKey, curvePublicKey: server.publicKey }));
    await rep.bind("tcp://127.0.0.1:*");
    vtx = vtxWith(t);
    const failed = nextEvent(vtx, "handshake-failed");
    const req = vtx.socket("REQ", { curveServerKey: zmq.curveKeyPair().publicKey });
    await vtx.connect(req, t.fromNative!(rep.lastEndpoint!));
    expect((await within(failed, WAIT, "handshake-failed")).error?.code).toBe("ZMTP_CURVE_REJECTED");
  });

  it("a vtx server with curveAllow refuses other client keys (ZMTP_AUTH_FAILED) and admits listed ones", async () => {
    const server = zmq.curveKeyPair();
    const good = zmq.curveKeyPair();
    const bad = zmq.curveKeyPair();
    vtx = vtxWith(t);
    const rep = vtx.socket("REP", { curveServer: true, curveSecretKey: server.secretKey });
    const ep = await vtx.bind(rep, t.bindEndpoint(), { curveAllow: [good.publicKey] });
    const failed = nextEvent(vtx, "handshake-failed");
    const intruder = native(new zmq.Request({ linger: 0, curveServerKey: server.publicKey, curvePublicKey: bad.publicKey, curveSecretKey: bad.secretKey }));
    intruder.connect(t.native!(ep));
    expect((await within(failed, WAIT, "handshake-failed")).error?.code).toBe("ZMTP_AUTH_FAILED");
    const friend = native(new zmq.Request({ linger: 0, curveServerKey: server.publicKey, curvePublicKey: good.publicKey, curveSecretKey: good.secretKey }));
    friend.connect(t.native!(ep));
    await friend.send("let me in");
    expect(strs(await within(rep.receive(), WAIT, "request from the allowed key"))).toEqual(["let me in"]);
  });

  it("3000 mixed-size messages from a vtx CURVE PUSH reach a native CURVE PULL complete and in order", async () => {
    const server = zmq.curveKeyPair();
    const pull = native(new zmq.Pull({ linger: 0, curveServer: true, curveSecretKey: server.secretKey, curvePublicKey: server.publicKey }));
    await pull.bind("tcp://127.0.0.1:*");
    vtx = vtxWith(t);
    const push = vtx.socket("PUSH", { curveServerKey: server.publicKey });
    await vtx.connect(push, t.fromNative!(pull.lastEndpoint!));
    const sizes = [0, 1, 64, 200, 255, 256, 4000, 70_000];
    const n = 3000;
    const sending = (async () => {
      for (let i = 0; i < n; i++) await push.send([String(i), Buffer.alloc(sizes[i % sizes.length]!, i & 0xff)]);
    })();
    for (let i = 0; i < n; i++) {
      const [seq, body] = await within(pull.receive(), WAIT, `message ${i}`);
      expect(seq!.toString()).toBe(String(i));
      expect(body!.length).toBe(sizes[i % sizes.length]);
      if (body!.length > 0) expect(body![body!.length - 1]).toBe(i & 0xff);
    }
    await sending;
  });

  it("refuses a bind with keys that are not CURVE keys (ZMTP_INVALID_OPTION)", async () => {
    vtx = vtxWith(t);
    const rep = vtx.socket("REP");
    await expect(vtx.bind(rep, t.bindEndpoint(), { curveServer: true, curveSecretKey: "not-a-key" })).rejects.toMatchObject({ code: "ZMTP_INVALID_OPTION" });
  });
});
