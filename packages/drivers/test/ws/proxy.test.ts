/**
 * ws:// and wss:// connects through a real HTTP proxy (Debian's tinyproxy
 * on loopback, with basic auth): the WebSocket upgrade and the ZWS traffic
 * travel inside the CONNECT tunnel. Wrong credentials are reported with the
 * proxy's code and retried, never silently.
 */
import * as zmq from "zeromq";
import { afterEach, describe, expect, it } from "vitest";
import { Vtx } from "@vtx/runtime";
import { ws, wss } from "@vtx/drivers";
import { expectEvent, expectFrames, within } from "../helpers.js";
import { startTinyproxy, type Tinyproxy } from "../proxy/tinyproxy.js";
import { tlsFixture } from "./tls-fixture.js";

const WAIT = 5000;

describe("ws:// and wss:// through an HTTP CONNECT proxy (tinyproxy)", () => {
  let vtx: Vtx;
  let proxy: Tinyproxy | undefined;
  let natives: Array<{ close(): void }> = [];
  afterEach(async () => {
    for (const n of natives) n.close();
    natives = [];
    await vtx?.destroy();
    await proxy?.stop();
    proxy = undefined;
  });

  const portOf = (ep: string): number => Number(/:(\d+)(\/|$)/.exec(ep)![1]);

  async function echo(rep: { receive(): Promise<Buffer[]>; send(m: Buffer[]): Promise<void> }): Promise<void> {
    try {
      for (;;) await rep.send(await rep.receive());
    } catch {
      // closed
    }
  }

  it("a vtx REQ reaches a vtx REP through the proxy with basic auth", async () => {
    vtx = new Vtx();
    vtx.register("ws", ws());
    const rep = vtx.socket("REP");
    const ep = await vtx.bind(rep, "ws://127.0.0.1:0/zmq");
    void echo(rep);
    proxy = await startTinyproxy({ user: "zoe", pass: "p4ss", connectPorts: [portOf(ep)] });
    const req = vtx.socket("REQ");
    const up = expectEvent(vtx, (e) => e.socket === req && e.type === "connected", WAIT, "connected through the proxy");
    await vtx.connect(req, ep, { driver: { proxy: proxy.url("zoe", "p4ss") } });
    await up;
    await within(req.send(["through", "the proxy"]), WAIT, "send");
    expectFrames(await within(req.receive(), WAIT, "reply"), ["through", "the proxy"]);
  });

  it("a vtx REQ reaches libzmq's native ws:// REP through the proxy", async () => {
    vtx = new Vtx();
    vtx.register("ws", ws());
    const rep = new zmq.Reply();
    natives.push(rep);
    await rep.bind("ws://127.0.0.1:*/zmq");
    void echo(rep);
    proxy = await startTinyproxy({ user: "zoe", pass: "p4ss", connectPorts: [portOf(rep.lastEndpoint!)] });
    const req = vtx.socket("REQ");
    await vtx.connect(req, rep.lastEndpoint!, { driver: { proxy: proxy.url("zoe", "p4ss") } });
    await within(req.send("native, via proxy"), WAIT, "send");
    expectFrames(await within(req.receive(), WAIT, "reply"), ["native, via proxy"]);
  });

  it("wss:// through the proxy: TLS runs end to end inside the tunnel", async () => {
    const t = tlsFixture();
    vtx = new Vtx();
    vtx.register("wss", wss({ key: t.key, cert: t.cert, ca: t.ca }));
    const rep = vtx.socket("REP");
    const ep = await vtx.bind(rep, "wss://127.0.0.1:0/zmq");
    void echo(rep);
    proxy = await startTinyproxy({ user: "zoe", pass: "p4ss", connectPorts: [portOf(ep)] });
    const req = vtx.socket("REQ");
    await vtx.connect(req, ep, { driver: { proxy: proxy.url("zoe", "p4ss") } });
    await within(req.send("secret"), WAIT, "send");
    expectFrames(await within(req.receive(), WAIT, "reply"), ["secret"]);
  });

  it("wrong proxy credentials: handshake-failed with VTX_PROXY_AUTH, retried, and nothing reaches the server", async () => {
    vtx = new Vtx();
    vtx.register("ws", ws());
    const rep = vtx.socket("REP");
    const ep = await vtx.bind(rep, "ws://127.0.0.1:0/zmq");
    proxy = await startTinyproxy({ user: "zoe", pass: "p4ss", connectPorts: [portOf(ep)] });
    let serverSaw = 0;
    vtx.on((e) => {
      if (e.socket === rep && e.type === "connected") serverSaw++;
    });
    const req = vtx.socket("REQ");
    let refusals = 0;
    const twice = within(
      new Promise<void>((resolve) =>
        vtx.on((e) => {
          if (e.socket === req && e.type === "handshake-failed" && e.error?.code === "VTX_PROXY_AUTH" && ++refusals === 2) resolve();
        }),
      ),
      WAIT,
      "two VTX_PROXY_AUTH refusals (the connect keeps retrying)",
    );
    await vtx.connect(req, ep, { driver: { proxy: proxy.url("zoe", "wrong") }, reconnectInterval: 50, reconnectIntervalMax: 100 });
    await twice;
    expect(serverSaw).toBe(0);
  });
});
