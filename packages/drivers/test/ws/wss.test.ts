/**
 * wss://: ZWS 2.0 over node:tls. A server the client can verify is served;
 * by default (rejectUnauthorized) a self-signed certificate or one for
 * another host is refused with the tls driver's VTX_TLS_* codes, on the
 * client, and the server hears of the client that walked away.
 */
import type { Reply, Request } from "zeromq";
import { afterEach, describe, expect, it } from "vitest";
import { Vtx } from "@vtx/runtime";
import { wss } from "@vtx/drivers";
import { expectEvent, expectFrames, within } from "../helpers.js";
import { tlsFixture } from "./tls-fixture.js";

const WAIT = 5000;

describe("wss:// (ZWS 2.0 over TLS)", () => {
  let vtx: Vtx;
  afterEach(async () => {
    await vtx?.destroy();
  });

  async function exchange(options: { serverKey: string; serverCert: string; client: object }): Promise<{ rep: Reply; req: Request; ep: string }> {
    vtx = new Vtx({ link: { reconnectInterval: 50, reconnectIntervalMax: 200 } });
    vtx.register("wss", wss());
    const rep = vtx.socket("REP");
    const ep = await vtx.bind(rep, "wss://127.0.0.1:0/zmq", { driver: { key: options.serverKey, cert: options.serverCert } });
    const req = vtx.socket("REQ");
    return { rep, req, ep };
  }

  it("a client trusting the test CA is served (PEM key/cert on the bind, ca on the connect)", async () => {
    const t = tlsFixture();
    const { rep, req, ep } = await exchange({ serverKey: t.key, serverCert: t.cert, client: {} });
    await vtx.connect(req, ep, { driver: { ca: t.ca } });
    await within(req.send(["over", "tls"]), WAIT, "send");
    expectFrames(await within(rep.receive(), WAIT, "request"), ["over", "tls"]);
    await rep.send("ok");
    expectFrames(await within(req.receive(), WAIT, "reply"), ["ok"]);
  });

  it("servername: a certificate for localhost verifies when dialling 127.0.0.1 with servername localhost", async () => {
    const t = tlsFixture();
    const { rep, req, ep } = await exchange({ serverKey: t.key, serverCert: t.cert, client: {} });
    await vtx.connect(req, ep, { driver: { ca: t.ca, servername: "localhost" } });
    await within(req.send("named"), WAIT, "send");
    expectFrames(await within(rep.receive(), WAIT, "request"), ["named"]);
  });

  it("a self-signed server certificate is refused by default: VTX_TLS_SELF_SIGNED at the client, the server told of the walk-out", async () => {
    const t = tlsFixture();
    const { rep, req, ep } = await exchange({ serverKey: t.selfSignedKey, serverCert: t.selfSignedCert, client: {} });
    const clientSide = expectEvent(vtx, (e) => e.socket === req && e.type === "handshake-failed", WAIT, "client refuses the certificate");
    const serverSide = expectEvent(vtx, (e) => e.socket === rep && e.type === "handshake-failed", WAIT, "server hears of it");
    await vtx.connect(req, ep);
    expect((await clientSide).error?.code).toBe("VTX_TLS_SELF_SIGNED");
    expect((await serverSide).error?.code).toMatch(/^VTX_TLS_/);
  });

  it("a certificate for another host is refused with VTX_TLS_HOSTNAME", async () => {
    const t = tlsFixture();
    const { req, ep } = await exchange({ serverKey: t.otherHostKey, serverCert: t.otherHostCert, client: {} });
    const clientSide = expectEvent(vtx, (e) => e.socket === req && e.type === "handshake-failed", WAIT, "client refuses the host");
    await vtx.connect(req, ep, { driver: { ca: t.ca } });
    expect((await clientSide).error?.code).toBe("VTX_TLS_HOSTNAME");
  });

  it("rejectUnauthorized false accepts the self-signed server (an explicit opt-out)", async () => {
    const t = tlsFixture();
    const { rep, req, ep } = await exchange({ serverKey: t.selfSignedKey, serverCert: t.selfSignedCert, client: {} });
    await vtx.connect(req, ep, { driver: { rejectUnauthorized: false } });
    await within(req.send("anyway"), WAIT, "send");
    expectFrames(await within(rep.receive(), WAIT, "request"), ["anyway"]);
  });

  it("mutual TLS (requestCert): a client with a certificate from the CA is served, one without is refused with VTX_TLS_NO_CLIENT_CERT", async () => {
    const t = tlsFixture();
    vtx = new Vtx({ link: { reconnectInterval: 50, reconnectIntervalMax: 200 } });
    vtx.register("wss", wss());
    const rep = vtx.socket("REP");
    const ep = await vtx.bind(rep, "wss://127.0.0.1:0/zmq", { driver: { key: t.key, cert: t.cert, ca: t.ca, requestCert: true } });
    const anonymous = vtx.socket("REQ");
    const serverRefuses = expectEvent(vtx, (e) => e.socket === rep && e.type === "handshake-failed", WAIT, "server refuses the anonymous client");
    const clientTold = expectEvent(vtx, (e) => e.socket === anonymous && e.type === "handshake-failed", WAIT, "anonymous client told");
    await vtx.connect(anonymous, ep, { driver: { ca: t.ca } });
    expect((await serverRefuses).error?.code).toBe("VTX_TLS_NO_CLIENT_CERT");
    expect((await clientTold).error?.code).toBe("VTX_TLS_NO_CLIENT_CERT");
    await vtx.disconnect(anonymous, ep);
    const known = vtx.socket("REQ");
    await vtx.connect(known, ep, { driver: { ca: t.ca, key: t.key, cert: t.cert } });
    await within(known.send("it's me"), WAIT, "send");
    expectFrames(await within(rep.receive(), WAIT, "request"), ["it's me"]);
  });

  it("a wss bind without key and cert is refused at bind time with ZWS_BAD_OPTION", async () => {
    vtx = new Vtx();
    vtx.register("wss", wss());
    await expect(vtx.bind(vtx.socket("REP"), "wss://127.0.0.1:0/zmq")).rejects.toMatchObject({ code: "ZWS_BAD_OPTION" });
  });
});
