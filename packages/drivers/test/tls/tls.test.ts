/**
 * tls:// — ZMTP inside TLS: exchanges, certificate checks by default with
 * clear codes, mutual TLS, CURVE inside TLS, and hostile clients (no TLS
 * handshake, no ZMTP handshake, oversized frames).
 */
import * as net from "node:net";
import * as nodeTls from "node:tls";
import * as zmq from "zeromq";
import { afterEach, describe, expect, it } from "vitest";
import { Vtx, type VtxEvent } from "@vtx/runtime";
import { tls } from "@vtx/drivers";
import { strs, within } from "../helpers.js";
import { testPki } from "./pki.js";

const WAIT = 8000;
const vtxs: Vtx[] = [];
const closers: Array<() => void> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) c();
  for (const v of vtxs.splice(0)) await v.destroy();
});

function vtxWithTls(options: Parameters<typeof tls>[0]): Vtx {
  const v = new Vtx();
  v.register("tls", tls(options));
  vtxs.push(v);
  return v;
}

function nextEvent(v: Vtx, pred: (e: VtxEvent) => boolean): Promise<VtxEvent> {
  let off = (): void => undefined;
  const p = new Promise<VtxEvent>((resolve) => {
    off = v.on((e) => {
      if (pred(e)) resolve(e);
    });
  }).finally(() => off());
  return p;
}

const failed = (v: Vtx): Promise<VtxEvent> => nextEvent(v, (e) => e.type === "handshake-failed");

/** A server Vtx bound on tls://127.0.0.1:0 with `cert`, answering one request with "pong". */
async function server(options: Parameters<typeof tls>[0], link?: Parameters<Vtx["bind"]>[2]): Promise<{ vtx: Vtx; ep: string; rep: zmq.Reply }> {
  const vtx = vtxWithTls(options);
  const rep = vtx.socket("REP");
  const ep = await vtx.bind(rep, "tls://127.0.0.1:0", link);
  return { vtx, ep, rep };
}

async function roundTrip(req: zmq.Request, rep: zmq.Reply): Promise<void> {
  await req.send("ping");
  expect(strs(await within(rep.receive(), WAIT, "request over tls"))).toEqual(["ping"]);
  await rep.send("pong");
  expect(strs(await within(req.receive(), WAIT, "reply over tls"))).toEqual(["pong"]);
}

describe("tls:// exchanges", () => {
  it("REQ/REP with a CA-signed server certificate, verified by default", async () => {
    const p = testPki();
    const s = await server({ key: p.server.key, cert: p.server.cert });
    const c = vtxWithTls({ ca: p.ca.cert });
    const req = c.socket("REQ");
    const connected = nextEvent(c, (e) => e.type === "connected");
    await c.connect(req, s.ep);
    await within(connected, WAIT, "connected");
    await roundTrip(req, s.rep);
  });

  it("per-endpoint driver options override the spec's (localhost as servername, key/cert per bind)", async () => {
    const p = testPki();
    const s = await server({}, { driver: { key: p.server.key, cert: p.server.cert } });
    const c = vtxWithTls({});
    const req = c.socket("REQ");
    await c.connect(req, s.ep, { driver: { ca: p.ca.cert, servername: "localhost" } });
    await roundTrip(req, s.rep);
  });

  it("CURVE runs inside TLS (both layers on)", async () => {
    const p = testPki();
    const keys = zmq.curveKeyPair();
    const vtx = vtxWithTls({ key: p.server.key, cert: p.server.cert, ca: p.ca.cert });
    const rep = vtx.socket("REP", { curveServer: true, curveSecretKey: keys.secretKey });
    const ep = await vtx.bind(rep, "tls://127.0.0.1:0");
    const req = vtx.socket("REQ", { curveServerKey: keys.publicKey });
    await vtx.connect(req, ep);
    await roundTrip(req, rep);
    const wrong = vtx.socket("REQ", { curveServerKey: zmq.curveKeyPair().publicKey });
    const f = failed(vtx);
    await vtx.connect(wrong, ep);
    expect((await within(f, WAIT, "handshake-failed")).error?.code).toMatch(/^ZMTP_CURVE_(REJECTED|CRYPTO)$/);
  });

  it("PLAIN runs inside TLS: the right password gets in, a wrong one is refused with ZMTP_AUTH_FAILED", async () => {
    const p = testPki();
    const vtx = new Vtx({ authenticate: ({ username, password }) => username === "admin" && password === "secret" });
    vtxs.push(vtx);
    vtx.register("tls", tls({ key: p.server.key, cert: p.server.cert, ca: p.ca.cert }));
    const rep = vtx.socket("REP", { plainServer: true });
    const ep = await vtx.bind(rep, "tls://127.0.0.1:0");
    const req = vtx.socket("REQ", { plainUsername: "admin", plainPassword: "secret" });
    await vtx.connect(req, ep);
    await roundTrip(req, rep);
    const f = nextEvent(vtx, (e) => e.type === "handshake-failed" && e.error?.code === "ZMTP_AUTH_FAILED");
    await vtx.connect(vtx.socket("REQ", { plainUsername: "admin", plainPassword: "guess" }), ep);
    await within(f, WAIT, "ZMTP_AUTH_FAILED");
  });

  it("a bind without key and cert, or with a key that is not PEM, is refused with VTX_TLS_OPTIONS", async () => {
    const vtx = vtxWithTls({});
    await expect(vtx.bind(vtx.socket("REP"), "tls://127.0.0.1:0")).rejects.toMatchObject({ code: "VTX_TLS_OPTIONS" });
    await expect(vtx.bind(vtx.socket("REP"), "tls://127.0.0.1:0", { driver: { key: "nope", cert: "nope" } })).rejects.toMatchObject({
      code: "VTX_TLS_OPTIONS",
    });
  });

  it("a connect with an unusable client key is reported as handshake-failed VTX_TLS_OPTIONS", async () => {
    const p = testPki();
    const s = await server({ key: p.server.key, cert: p.server.cert });
    const c = vtxWithTls({ ca: p.ca.cert, key: "not a key", cert: p.client.cert });
    const f = failed(c);
    await c.connect(c.socket("REQ"), s.ep);
    expect((await within(f, WAIT, "handshake-failed")).error?.code).toBe("VTX_TLS_OPTIONS");
  });
});

describe("tls:// certificate checks (on by default)", () => {
  const cases = [
    { name: "an expired certificate", cert: () => testPki().expired, code: "VTX_TLS_CERT_EXPIRED" },
    { name: "a self-signed certificate", cert: () => testPki().selfSigned, code: "VTX_TLS_SELF_SIGNED" },
    { name: "a certificate for another host", cert: () => testPki().wrongHost, code: "VTX_TLS_HOSTNAME" },
  ];
  for (const k of cases) {
    it(`refuses ${k.name} with ${k.code}, and nothing gets through`, async () => {
      const p = testPki();
      const kc = k.cert();
      const s = await server({ key: kc.key, cert: kc.cert });
      const c = vtxWithTls({ ca: p.ca.cert });
      const req = c.socket("REQ");
      const f = failed(c);
      await c.connect(req, s.ep);
      const ev = await within(f, WAIT, "client handshake-failed");
      expect(ev.error?.code).toBe(k.code);
      expect(ev.endpoint).toBe(s.ep);
    });
  }

  it("rejectUnauthorized: false accepts a self-signed server (opt-in)", async () => {
    const p = testPki();
    const s = await server({ key: p.selfSigned.key, cert: p.selfSigned.cert });
    const c = vtxWithTls({ rejectUnauthorized: false });
    const req = c.socket("REQ");
    await c.connect(req, s.ep);
    await roundTrip(req, s.rep);
  });
});

describe("tls:// mutual TLS", () => {
  it("admits a client with a CA-signed certificate and refuses one without (VTX_TLS_NO_CLIENT_CERT on both sides)", async () => {
    const p = testPki();
    const s = await server({ key: p.server.key, cert: p.server.cert, ca: p.ca.cert, requestCert: true });
    const good = vtxWithTls({ ca: p.ca.cert, key: p.client.key, cert: p.client.cert });
    const req = good.socket("REQ");
    await good.connect(req, s.ep);
    await roundTrip(req, s.rep);

    const serverSide = failed(s.vtx);
    const anon = vtxWithTls({ ca: p.ca.cert });
    const clientSide = failed(anon);
    await anon.connect(anon.socket("REQ"), s.ep);
    expect((await within(serverSide, WAIT, "server handshake-failed")).error?.code).toBe("VTX_TLS_NO_CLIENT_CERT");
    expect((await within(clientSide, WAIT, "client handshake-failed")).error?.code).toBe("VTX_TLS_NO_CLIENT_CERT");
  });

  it("refuses a client certificate from an unknown CA", async () => {
    const p = testPki();
    const s = await server({ key: p.server.key, cert: p.server.cert, ca: p.ca.cert, requestCert: true });
    const serverSide = failed(s.vtx);
    const stranger = vtxWithTls({ ca: p.ca.cert, key: p.strangerClient.key, cert: p.strangerClient.cert });
    const clientSide = failed(stranger);
    await stranger.connect(stranger.socket("REQ"), s.ep);
    const ev = await within(serverSide, WAIT, "server handshake-failed");
    expect(ev.error?.code, ev.error?.message).toMatch(/^VTX_TLS_(SELF_SIGNED|UNTRUSTED)$/);
    expect((await within(clientSide, WAIT, "client handshake-failed")).error?.code).toBe("VTX_TLS_PEER_REFUSED_CERT");
  });
});

describe("tls:// hostile clients", () => {
  function rawConnect(ep: string): Promise<net.Socket> {
    const port = Number(ep.split(":").pop());
    return new Promise((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1", () => resolve(s));
      s.once("error", reject);
      closers.push(() => s.destroy());
    });
  }

  function closedWithin(s: net.Socket, ms: number, what: string): Promise<void> {
    return within(
      new Promise<void>((resolve) => {
        if (s.destroyed) resolve();
        s.once("close", () => resolve());
        s.on("error", () => undefined);
        s.resume();
      }),
      ms,
      what,
    );
  }

  it("a client that opens TCP and never starts TLS is cut off after the handshake timeout (VTX_TLS_HANDSHAKE_TIMEOUT)", async () => {
    const p = testPki();
    const s = await server({ key: p.server.key, cert: p.server.cert }, { handshakeTimeout: 300 });
    const f = failed(s.vtx);
    const sock = await rawConnect(s.ep);
    const localPort = sock.localPort;
    const t0 = Date.now();
    await closedWithin(sock, 5000, "server to drop the silent client");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    const ev = await within(f, WAIT, "server handshake-failed");
    expect(ev.error?.code).toBe("VTX_TLS_HANDSHAKE_TIMEOUT");
    // The event names the offending client, even though its socket is gone by then.
    expect(ev.peer).toBe(`tls://127.0.0.1:${localPort}`);
  });

  it("a client that completes TLS but never sends a ZMTP greeting is cut off (ZMTP_HANDSHAKE_TIMEOUT)", async () => {
    const p = testPki();
    // Long enough for the TLS handshake itself on a loaded machine; the ZMTP part then never comes.
    const s = await server({ key: p.server.key, cert: p.server.cert }, { handshakeTimeout: 1500 });
    const f = failed(s.vtx);
    const port = Number(s.ep.split(":").pop());
    const sock = nodeTls.connect({ host: "127.0.0.1", port, ca: p.ca.cert });
    closers.push(() => sock.destroy());
    await within(new Promise<void>((r, j) => sock.once("secureConnect", r).once("error", j)), WAIT, "TLS up");
    await closedWithin(sock, 5000, "server to drop the mute client");
    expect((await within(f, WAIT, "server handshake-failed")).error?.code).toBe("ZMTP_HANDSHAKE_TIMEOUT");
  });

  it("plain ZMTP (no TLS) sent to a tls:// bind is refused as VTX_TLS_NOT_TLS", async () => {
    const p = testPki();
    const s = await server({ key: p.server.key, cert: p.server.cert });
    const f = failed(s.vtx);
    const req = new zmq.Request({ linger: 0 });
    closers.push(() => req.close());
    req.connect(s.ep.replace(/^tls:/, "tcp:"));
    expect((await within(f, WAIT, "server handshake-failed")).error?.code).toBe("VTX_TLS_NOT_TLS");
  });

  it("a frame announcing more than maxMessageSize is refused before it is buffered (ZMTP_MESSAGE_TOO_LARGE)", async () => {
    const p = testPki();
    const s = await server({ key: p.server.key, cert: p.server.cert }, { maxMessageSize: 1024 });
    const gone = nextEvent(s.vtx, (e) => e.type === "disconnected");
    const port = Number(s.ep.split(":").pop());
    const sock = nodeTls.connect({ host: "127.0.0.1", port, ca: p.ca.cert });
    closers.push(() => sock.destroy());
    await within(new Promise<void>((r, j) => sock.once("secureConnect", r).once("error", j)), WAIT, "TLS up");
    const { encodeGreeting, encodeCommandFrame, encodeReady, encodeMetadata } = await import("@vtx/runtime/zmtp/index");
    sock.write(encodeGreeting({ mechanism: "NULL", asServer: false }));
    sock.write(encodeCommandFrame(encodeReady(encodeMetadata([["Socket-Type", "REQ"]]))));
    await within(nextEvent(s.vtx, (e) => e.type === "connected"), WAIT, "ZMTP handshake done");
    // A long frame header announcing 1 GiB: only 9 bytes, but the server must not wait for (or allocate) the rest.
    const header = Buffer.alloc(9);
    header[0] = 0x02;
    header.writeBigUInt64BE(1n << 30n, 1);
    sock.write(header);
    await closedWithin(sock, 5000, "server to drop the oversized sender");
    expect((await within(gone, WAIT, "disconnected")).error?.code).toBe("ZMTP_MESSAGE_TOO_LARGE");
  });
});
