/**
 * The CURVE engine against libzmq 4.3.5's CURVE (zeromq.js 6.8 native
 * sockets) over TCP on loopback, both roles, with keys from
 * `zmq.curveKeyPair()`.
 */
import * as zmq from "zeromq";
import { beforeAll, describe, expect, it } from "vitest";
import { loadCurve } from "../../src/zmtp/mechanism-option.js";
import type { NetEngine } from "./helpers/net-engine.js";
import { bindNative, dial, serve, track, WAIT } from "./helpers/interop-fixtures.js";

async function settled(e: NetEngine): Promise<void> {
  await e.rec.until(() => e.rec.peer !== undefined || e.rec.errors.length > 0 || e.closed, "engine ready or failed", WAIT);
}

const texts = (frames: Buffer[]): string[] => frames.map((f) => f.toString());
const opts = { linger: 0, receiveTimeout: WAIT, sendTimeout: WAIT };


// CURVE loads on demand (the engine refuses it until then).
beforeAll(() => loadCurve());

describe("CURVE against libzmq 4.3.5", () => {
  it("an engine CURVE client talks to a native CURVE server (REQ → REP), big and multipart messages included", async () => {
    const server = zmq.curveKeyPair();
    const client = zmq.curveKeyPair();
    const { socket: rep, port } = await bindNative(new zmq.Reply({ ...opts, curveServer: true, curveSecretKey: server.secretKey, curvePublicKey: server.publicKey }));
    const e = await dial(port, { socketType: "REQ", mechanism: { type: "CURVE", serverKey: server.publicKey, publicKey: client.publicKey, secretKey: client.secretKey } });
    await settled(e);
    expect(e.rec.errors).toEqual([]);
    expect(e.rec.peer).toMatchObject({ socketType: "REP", mechanism: "CURVE" });
    const big = Buffer.alloc(70_000, 0x61);
    e.engine.sendMessage([Buffer.alloc(0), Buffer.from("hello"), big]);
    const got = await rep.receive();
    expect(got[0]!.toString()).toBe("hello");
    expect(got[1]!.equals(big)).toBe(true);
    await rep.send(["world", ""]);
    await e.rec.until(() => e.rec.messages.length === 1, "reply", WAIT);
    expect(texts(e.rec.messages[0]!)).toEqual(["", "world", ""]);
  });

  it("a native CURVE client is served by an engine CURVE server (DEALER → ROUTER), which learns its key", async () => {
    const server = zmq.curveKeyPair();
    const client = zmq.curveKeyPair();
    const s = await serve({ socketType: "ROUTER", mechanism: { type: "CURVE", server: true, secretKey: server.secretKey } });
    const dealer = track(
      new zmq.Dealer({ ...opts, routingId: "native", curveServerKey: server.publicKey, curvePublicKey: client.publicKey, curveSecretKey: client.secretKey }),
    );
    dealer.connect(s.endpoint);
    const e = await s.connection(0, WAIT);
    await settled(e);
    expect(e.rec.errors).toEqual([]);
    expect(e.rec.peer).toMatchObject({ socketType: "DEALER", mechanism: "CURVE", userId: client.publicKey });
    expect(e.rec.peer?.identity.toString()).toBe("native");
    await dealer.send(["a", "b"]);
    await e.rec.until(() => e.rec.messages.length === 1, "message from native", WAIT);
    expect(texts(e.rec.messages[0]!)).toEqual(["a", "b"]);
    e.engine.sendMessage([Buffer.from("back"), Buffer.alloc(300, 1)]);
    e.engine.flush();
    const [back, body] = await dealer.receive();
    expect(back!.toString()).toBe("back");
    expect(body!.length).toBe(300);
  });

  it("subscriptions and PING/PONG travel inside MESSAGE both ways (native PUB ← engine SUB, heartbeats on)", async () => {
    const server = zmq.curveKeyPair();
    const { socket: pub, port } = await bindNative(
      new zmq.Publisher({ linger: 0, sendTimeout: WAIT, curveServer: true, curveSecretKey: server.secretKey, curvePublicKey: server.publicKey, heartbeatInterval: 50, heartbeatTimeout: 2000 }),
    );
    const e = await dial(port, { socketType: "SUB", mechanism: { type: "CURVE", serverKey: server.publicKey } });
    await settled(e);
    expect(e.rec.errors).toEqual([]);
    e.engine.sendSubscribe(Buffer.from("news"));
    e.engine.sendPing(2000, Buffer.from("hb"));
    await e.rec.until(() => e.rec.pongs.length > 0 && e.rec.pings.length > 0, "PONG from libzmq and its own PING", WAIT).catch((err: Error) => {
      throw new Error(`${err.message}: errors ${JSON.stringify(e.rec.errors.map((x) => x.code))}, pongs ${e.rec.pongs.length}, pings ${e.rec.pings.length}, closed ${e.closed}`);
    });
    expect(e.rec.pongs[0]).toBe("hb");
    for (let i = 0; i < 200 && e.rec.messages.length === 0; i++) {
      await pub.send(["weather", "skip"]);
      await pub.send(["news", "ok"]);
      await e.rec.until(() => e.rec.messages.length > 0, "filtered message", 20).catch(() => undefined);
    }
    expect(texts(e.rec.messages[0]!)).toEqual(["news", "ok"]);
  });

  it("an engine client with the wrong server key: libzmq drops it and the engine reports ZMTP_CURVE_REJECTED", async () => {
    const server = zmq.curveKeyPair();
    const { port } = await bindNative(new zmq.Reply({ ...opts, curveServer: true, curveSecretKey: server.secretKey }));
    const e = await dial(port, { socketType: "REQ", mechanism: { type: "CURVE", serverKey: zmq.curveKeyPair().publicKey } });
    await settled(e);
    await e.rec.until(() => e.rec.errors.length > 0, "engine error", WAIT);
    expect(e.rec.errors.map((x) => x.code)).toEqual(["ZMTP_CURVE_REJECTED"]);
  });

  it("a native client with the wrong server key is refused by the engine server with ZMTP_CURVE_CRYPTO", async () => {
    const server = zmq.curveKeyPair();
    const s = await serve({ socketType: "REP", mechanism: { type: "CURVE", server: true, secretKey: server.secretKey } });
    const req = track(new zmq.Request({ ...opts, curveServerKey: zmq.curveKeyPair().publicKey }));
    req.connect(s.endpoint);
    const e = await s.connection(0, WAIT);
    await e.rec.until(() => e.rec.errors.length > 0, "engine error", WAIT);
    expect(e.rec.errors.map((x) => x.code)).toEqual(["ZMTP_CURVE_CRYPTO"]);
  });

  it("an engine server whose authorizer refuses a native client sends ERROR 400; libzmq reports an auth failure", async () => {
    const server = zmq.curveKeyPair();
    const client = zmq.curveKeyPair();
    const seen: string[] = [];
    const authorize = ({ publicKey }: { publicKey: string }): boolean => {
      seen.push(publicKey);
      return false;
    };
    const s = await serve({ socketType: "REP", mechanism: { type: "CURVE", server: true, secretKey: server.secretKey, authorize } });
    const req = track(new zmq.Request({ ...opts, curveServerKey: server.publicKey, curvePublicKey: client.publicKey, curveSecretKey: client.secretKey }));
    const failed = new Promise<number | undefined>((resolve) => {
      void (async () => {
        for await (const ev of req.events) {
          if (ev.type === "handshake:error:auth") {
            resolve((ev.error as { status?: number } | undefined)?.status ?? -1);
            return;
          }
        }
      })().catch(() => resolve(undefined));
    });
    req.connect(s.endpoint);
    const e = await s.connection(0, WAIT);
    await e.rec.until(() => e.rec.errors.length > 0, "engine error", WAIT);
    expect(e.rec.errors.map((x) => x.code)).toEqual(["ZMTP_AUTH_FAILED"]);
    expect(seen).toEqual([client.publicKey]);
    const status = await Promise.race([failed, new Promise<"none">((r) => setTimeout(() => r("none"), WAIT))]);
    expect(status).toBe(400);
  });
});
