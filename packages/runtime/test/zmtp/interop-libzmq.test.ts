/**
 * The engine against real libzmq (zeromq.js 6.8, libzmq 4.3.5) over TCP on
 * loopback: the engine side is a node net.Socket wrapped around ZmtpEngine
 * (helpers/net-engine.ts), the other side a native socket.
 */
import * as zmq from "zeromq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NetEngine } from "./helpers/net-engine.js";
import { bindNative, dial, serve, track, WAIT } from "./helpers/interop-fixtures.js";

async function ready(e: NetEngine): Promise<void> {
  await e.rec.until(() => e.rec.peer !== undefined || e.rec.errors.length > 0, "engine ready", WAIT);
  const [err] = e.rec.errors;
  if (err !== undefined) throw err;
}
const texts = (frames: Buffer[]) => frames.map((f) => f.toString());
// zeromq.js freezes per-type option sets: a Publisher has no receiveTimeout, a Pull no sendTimeout.
const opts = { linger: 0, receiveTimeout: WAIT, sendTimeout: WAIT };
const sendOnly = { linger: 0, sendTimeout: WAIT };
const receiveOnly = { linger: 0, receiveTimeout: WAIT };

/**
 * ZAP handler (RFC 27) on the global context, the only way libzmq's PLAIN
 * server decides: accepts admin/secret, refuses everything else.
 */
let zap: zmq.Router;
beforeAll(async () => {
  zap = new zmq.Router({ linger: 0 });
  await zap.bind("inproc://zeromq.zap.01");
  void (async () => {
    for await (const [address, empty, version, requestId, , , , mechanism, user, pass] of zap) {
      const ok = mechanism?.toString() === "PLAIN" && user?.toString() === "admin" && pass?.toString() === "secret";
      await zap.send([address!, empty!, version!, requestId!, ok ? "200" : "400", ok ? "OK" : "denied", ok ? "admin" : "", ""]);
    }
  })().catch(() => undefined);
});
afterAll(() => zap.close());

describe("ZMTP engine against libzmq 4.3.5", () => {
  it("an engine REQ talks to a native REP (engine as client)", async () => {
    const { socket: rep, port } = await bindNative(new zmq.Reply(opts));
    const e = await dial(port, { socketType: "REQ" });
    await ready(e);
    expect(e.rec.peer).toMatchObject({ socketType: "REP", major: 3, minor: 1, mechanism: "NULL" });
    e.engine.sendMessage([Buffer.alloc(0), Buffer.from("hello")]); // REQ envelope: empty delimiter
    expect(texts(await rep.receive())).toEqual(["hello"]);
    await rep.send("world");
    await e.rec.until(() => e.rec.messages.length === 1, "reply", WAIT);
    expect(texts(e.rec.messages[0]!)).toEqual(["", "world"]);
  });

  it("an engine REP serves a native REQ (engine as server)", async () => {
    const server = await serve({ socketType: "REP" });
    const req = track(new zmq.Request(opts));
    req.connect(server.endpoint);
    await req.send("ping");
    const e = await server.connection();
    await e.rec.until(() => e.rec.messages.length === 1, "request", WAIT);
    expect(texts(e.rec.messages[0]!)).toEqual(["", "ping"]);
    e.engine.sendMessage([Buffer.alloc(0), Buffer.from("pong")]);
    expect(texts(await req.receive())).toEqual(["pong"]);
  });

  it("a native ROUTER sees the engine DEALER's identity and routes back to it", async () => {
    const { socket: router, port } = await bindNative(new zmq.Router(opts));
    const e = await dial(port, { socketType: "DEALER", identity: Buffer.from("engine-7") });
    await ready(e);
    e.engine.sendMessage([Buffer.from("job"), Buffer.from("42")]);
    const [id, ...rest] = await router.receive();
    expect(id?.toString()).toBe("engine-7");
    expect(texts(rest)).toEqual(["job", "42"]);
    await router.send(["engine-7", "done"]);
    await e.rec.until(() => e.rec.messages.length === 1, "routed reply", WAIT);
    expect(texts(e.rec.messages[0]!)).toEqual(["done"]);
  });

  it("a native DEALER with a routing id reaches an engine ROUTER, which learns the identity", async () => {
    const server = await serve({ socketType: "ROUTER" });
    const dealer = track(new zmq.Dealer({ ...opts, routingId: "native-3" }));
    dealer.connect(server.endpoint);
    await dealer.send(["a", "b"]);
    const e = await server.connection();
    await e.rec.until(() => e.rec.messages.length === 1, "message", WAIT);
    expect(e.rec.peer?.identity.toString()).toBe("native-3");
    expect(texts(e.rec.messages[0]!)).toEqual(["a", "b"]);
  });

  it("an engine SUB's subscription reaches a native PUB, which then filters by topic", async () => {
    const { socket: pub, port } = await bindNative(new zmq.Publisher(sendOnly));
    const e = await dial(port, { socketType: "SUB" });
    await ready(e);
    e.engine.sendSubscribe(Buffer.from("a"));
    // The subscription is in flight; publish probes until one comes through (bounded).
    for (let i = 0; i < 200 && e.rec.messages.length === 0; i++) {
      await pub.send("a-probe");
      await e.rec.until(() => e.rec.messages.length > 0, "probe", 10).catch(() => undefined);
    }
    expect(e.rec.messages.length).toBeGreaterThan(0);
    e.rec.messages.length = 0;
    await pub.send("a1");
    await pub.send("b1");
    await pub.send(["a2", "more"]);
    await pub.send("a-end");
    await e.rec.until(() => e.rec.messages.some((m) => m[0]?.toString() === "a-end"), "a-end", WAIT);
    const got = e.rec.messages.map((m) => texts(m).join("|")).filter((t) => t !== "a-probe");
    expect(got).toEqual(["a1", "a2|more", "a-end"]);
  });

  it("an engine PUB receives a native SUB's subscribe and cancel, and its messages reach the SUB", async () => {
    const server = await serve({ socketType: "PUB" });
    const sub = track(new zmq.Subscriber(receiveOnly));
    sub.connect(server.endpoint);
    sub.subscribe("t");
    const e = await server.connection();
    await e.rec.until(() => e.rec.subscribes.length === 1, "subscribe", WAIT);
    expect(e.rec.subscribes).toEqual(["t"]);
    expect(e.rec.peer?.minor).toBe(1); // libzmq sent a SUBSCRIBE command to our 3.1 greeting
    e.engine.sendMessage([Buffer.from("t1"), Buffer.from("body")]);
    expect(texts(await sub.receive())).toEqual(["t1", "body"]);
    sub.unsubscribe("t");
    await e.rec.until(() => e.rec.cancels.length === 1, "cancel", WAIT);
    expect(e.rec.cancels).toEqual(["t"]);
  });

  it("XSUB/XPUB: a native XSUB's \\x01topic reaches an engine XPUB; an engine XSUB's subscription reaches a native XPUB", async () => {
    const server = await serve({ socketType: "XPUB" });
    const xsub = track(new zmq.XSubscriber(opts));
    xsub.connect(server.endpoint);
    await xsub.send(Buffer.from("\x01news"));
    const e = await server.connection();
    await e.rec.until(() => e.rec.subscribes.length === 1, "subscribe at engine XPUB", WAIT);
    expect(e.rec.subscribes).toEqual(["news"]);
    e.engine.sendMessage([Buffer.from("news: hi")]);
    expect(texts(await xsub.receive())).toEqual(["news: hi"]);

    const { socket: xpub, port } = await bindNative(new zmq.XPublisher(opts));
    const client = await dial(port, { socketType: "XSUB" });
    await ready(client);
    client.engine.sendSubscribe(Buffer.from("sport"));
    const [sub] = await xpub.receive();
    expect(sub?.toString("latin1")).toBe("\x01sport");
    client.engine.sendCancel(Buffer.from("sport"));
    const [cancel] = await xpub.receive();
    expect(cancel?.toString("latin1")).toBe("\x00sport");
  });

  it("PUSH/PULL both ways: engine PUSH to native PULL, native PUSH to engine PULL", async () => {
    const { socket: pull, port } = await bindNative(new zmq.Pull(receiveOnly));
    const pusher = await dial(port, { socketType: "PUSH" });
    await ready(pusher);
    pusher.engine.sendMessage([Buffer.from("work-1")]);
    expect(texts(await pull.receive())).toEqual(["work-1"]);

    const server = await serve({ socketType: "PULL" });
    const push = track(new zmq.Push(sendOnly));
    push.connect(server.endpoint);
    for (let i = 0; i < 100; i++) await push.send(`job-${i}`);
    const e = await server.connection();
    await e.rec.until(() => e.rec.messages.length === 100, "100 jobs", WAIT);
    expect(e.rec.messages.map((m) => m[0]!.toString())).toEqual(Array.from({ length: 100 }, (_, i) => `job-${i}`));
  });

  it("an engine with output batching delivers 2000 mixed-size messages in order to a native PULL", async () => {
    const { socket: pull, port } = await bindNative(new zmq.Pull(receiveOnly));
    const e = await dial(port, { socketType: "PUSH", batchSize: 64 * 1024 });
    await ready(e);
    const sizeOf = (i: number) => (i * 7919) % 3000; // 0..2999 B: all go through the batch
    for (let i = 0; i < 2000; i++) {
      const body = Buffer.alloc(sizeOf(i), i & 0xff);
      e.engine.sendMessage([Buffer.from(String(i)), body]);
      if (i % 100 === 99) e.engine.flush();
    }
    e.engine.flush();
    for (let i = 0; i < 2000; i++) {
      const [id, body] = await pull.receive();
      expect(id?.toString()).toBe(String(i));
      expect(body?.length).toBe(sizeOf(i));
      expect(body?.every((b) => b === (i & 0xff))).toBe(true);
    }
  });

  it("carries multipart messages with empty frames, 0 B and 1 MiB bodies both ways", async () => {
    const { socket: pair, port } = await bindNative(new zmq.Pair(opts));
    const e = await dial(port, { socketType: "PAIR" });
    await ready(e);
    const mib = Buffer.alloc(1 << 20);
    for (let i = 0; i < mib.length; i += 4) mib.writeUInt32BE(i, i);
    const message = [Buffer.alloc(0), Buffer.from("x"), Buffer.alloc(0), mib, Buffer.alloc(300, 7)];
    e.engine.sendMessage(message);
    e.engine.sendMessage([Buffer.alloc(0)]);
    expect(e.sendvCalls).toBe(1); // the 1 MiB body went out by reference
    const got = await pair.receive();
    expect(got.map((f) => f.length)).toEqual([0, 1, 0, 1 << 20, 300]);
    expect(got[3]!.equals(mib)).toBe(true);
    expect((await pair.receive()).map((f) => f.length)).toEqual([0]);

    await pair.send(message);
    await pair.send(Buffer.alloc(0));
    await e.rec.until(() => e.rec.messages.length === 2, "two messages", WAIT);
    expect(e.rec.messages[0]!.map((f) => f.length)).toEqual([0, 1, 0, 1 << 20, 300]);
    expect(e.rec.messages[0]![3]!.equals(mib)).toBe(true);
    expect(e.rec.messages[1]!.map((f) => f.length)).toEqual([0]);
  });

  it("refuses an incompatible pair (engine PUSH vs native PUB) with ZMTP_INCOMPATIBLE_SOCKET_TYPE", async () => {
    const { port } = await bindNative(new zmq.Publisher(sendOnly));
    const e = await dial(port, { socketType: "PUSH" });
    await e.rec.until(() => e.rec.errors.length > 0, "error", WAIT);
    expect(e.rec.errors.map((x) => x.code)).toEqual(["ZMTP_INCOMPATIBLE_SOCKET_TYPE"]);
    expect(e.rec.errors[0]?.detail).toEqual({ local: "PUSH", remote: "PUB" });
    expect(e.rec.peer).toBeUndefined();
  });

  it("answers a native socket's heartbeat PINGs with PONG, and the connection stays up past the timeout", async () => {
    const { socket: dealer, port } = await bindNative(
      new zmq.Dealer({ ...opts, heartbeatInterval: 100, heartbeatTimeout: 600, heartbeatTimeToLive: 2000 }),
    );
    const disconnects: string[] = [];
    dealer.events.on("disconnect", (ev) => disconnects.push(ev.address));
    const e = await dial(port, { socketType: "DEALER" });
    await ready(e);
    // 10 pings at 100 ms span well over libzmq's 600 ms timeout: only our PONGs keep it alive.
    // (Margins leave room for a loaded machine: a 600 ms stall of this process would drop the link.)
    await e.rec.until(() => e.rec.pings.length >= 10, "10 pings", 3 * WAIT);
    expect(e.rec.pings[0]).toEqual({ ttlMs: 2000, context: "" });
    expect(e.closed).toBe(false);
    expect(disconnects).toEqual([]);
    e.engine.sendPing(1000, Buffer.from("are-you-there"));
    await e.rec.until(() => e.rec.pongs.length === 1, "pong from libzmq", WAIT);
    expect(e.rec.pongs).toEqual(["are-you-there"]);
    e.engine.sendMessage([Buffer.from("still here")]);
    expect(texts(await dealer.receive())).toEqual(["still here"]);
    expect(e.rec.errors).toEqual([]);
  });
});

describe("heartbeat TTL against libzmq 4.3.5", () => {
  it("libzmq honours the TTL of our PING: it drops a connection that stays silent past it", async () => {
    const { socket: dealer, port } = await bindNative(new zmq.Dealer(opts));
    const e = await dial(port, { socketType: "DEALER" });
    await ready(e);
    const disconnected = new Promise<number>((resolve) => dealer.events.on("disconnect", () => resolve(Date.now())));
    const sent = Date.now();
    e.engine.sendPing(300); // 3 deciseconds on the wire
    const at = await Promise.race([disconnected, new Promise<number>((r) => setTimeout(() => r(-1), WAIT))]);
    expect(at).toBeGreaterThan(0);
    expect(at - sent).toBeGreaterThanOrEqual(250);
    await e.rec.until(() => e.closed, "our side closed", WAIT);
    expect(e.rec.errors).toEqual([]); // an orderly close between messages
  });
});

describe("ZAP-refused NULL against libzmq 4.3.5", () => {
  it("a native NULL socket whose ZAP handler refuses sends ERROR, reported as ZMTP_PEER_ERROR", async () => {
    // zapDomain turns ZAP on for NULL; our handler refuses every non-PLAIN request with 400.
    const { port } = await bindNative(new zmq.Reply({ ...opts, zapDomain: "vtx-test" }));
    const e = await dial(port, { socketType: "REQ" });
    await e.rec.until(() => e.rec.errors.length > 0, "error", WAIT);
    expect(e.rec.errors.map((x) => x.code)).toEqual(["ZMTP_PEER_ERROR"]);
    expect(e.rec.errors[0]?.detail).toEqual({ reason: "400" });
  });
});

describe("PLAIN against libzmq 4.3.5", () => {
  it("an engine PLAIN client is accepted by a native PLAIN server (ZAP says 200)", async () => {
    const { socket: rep, port } = await bindNative(new zmq.Reply({ ...opts, plainServer: true }));
    const e = await dial(port, { socketType: "REQ", mechanism: { type: "PLAIN", username: "admin", password: "secret" } });
    await ready(e);
    expect(e.rec.peer).toMatchObject({ socketType: "REP", mechanism: "PLAIN" });
    e.engine.sendMessage([Buffer.alloc(0), Buffer.from("auth'd")]);
    expect(texts(await rep.receive())).toEqual(["auth'd"]);
  });

  it("an engine PLAIN client with a wrong password fails with ZMTP_AUTH_FAILED", async () => {
    const { port } = await bindNative(new zmq.Reply({ ...opts, plainServer: true }));
    const e = await dial(port, { socketType: "REQ", mechanism: { type: "PLAIN", username: "admin", password: "guess" } });
    await e.rec.until(() => e.rec.errors.length > 0, "error", WAIT);
    expect(e.rec.errors.map((x) => x.code)).toEqual(["ZMTP_AUTH_FAILED"]);
    expect(e.rec.errors[0]?.detail).toEqual({ reason: "400" });
  });

  it("an engine PLAIN server accepts a native PLAIN client, with an async authenticator", async () => {
    const server = await serve({
      socketType: "ROUTER",
      mechanism: { type: "PLAIN", authenticate: async ({ username, password }) => username === "alice" && password === "pw" },
    });
    const dealer = track(new zmq.Dealer({ ...opts, plainUsername: "alice", plainPassword: "pw", routingId: "alice-1" }));
    dealer.connect(server.endpoint);
    await dealer.send("hi");
    const e = await server.connection();
    await e.rec.until(() => e.rec.messages.length === 1, "message", WAIT);
    expect(e.rec.peer).toMatchObject({ socketType: "DEALER", userId: "alice" });
    expect(e.rec.peer?.identity.toString()).toBe("alice-1");
    e.engine.sendMessage([Buffer.from("welcome")]);
    expect(texts(await dealer.receive())).toEqual(["welcome"]);
  });

  it("an engine PLAIN server refuses a native client's bad password; libzmq reports an auth failure 400", async () => {
    const server = await serve({ socketType: "ROUTER", mechanism: { type: "PLAIN", authenticate: () => false } });
    const dealer = track(new zmq.Dealer({ ...opts, plainUsername: "mallory", plainPassword: "x" }));
    const authFailure = new Promise<number>((resolve) => {
      dealer.events.on("handshake:error:auth", (ev) => resolve(ev.error.status));
    });
    dealer.connect(server.endpoint);
    const e = await server.connection();
    await e.rec.until(() => e.rec.errors.length > 0, "error", WAIT);
    expect(e.rec.errors.map((x) => x.code)).toEqual(["ZMTP_AUTH_FAILED"]);
    expect(e.rec.errors[0]?.detail).toEqual({ username: "mallory" });
    const status = await Promise.race([authFailure, new Promise<string>((r) => setTimeout(() => r("no event"), WAIT))]);
    expect(status).toBe(400);
  });
});
