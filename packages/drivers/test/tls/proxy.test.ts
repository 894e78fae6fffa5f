/**
 * tls:// through a real HTTP proxy (Debian's tinyproxy, basic auth) with
 * CONNECT: the client's `proxy` option.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Vtx, type VtxEvent } from "@vtx/runtime";
import { tls } from "@vtx/drivers";
import { strs, within } from "../helpers.js";
import { startTinyproxy, type Tinyproxy } from "../proxy/tinyproxy.js";
import { testPki } from "./pki.js";

const WAIT = 8000;
const vtxs: Vtx[] = [];
let proxy: Tinyproxy | undefined;
afterEach(async () => {
  for (const v of vtxs.splice(0)) await v.destroy();
  await proxy?.stop();
  proxy = undefined;
});

function vtxWithTls(options: Parameters<typeof tls>[0]): Vtx {
  const v = new Vtx();
  v.register("tls", tls(options));
  vtxs.push(v);
  return v;
}

async function tlsServer(): Promise<{ vtx: Vtx; ep: string; port: number }> {
  const p = testPki();
  const vtx = vtxWithTls({ key: p.server.key, cert: p.server.cert });
  const rep = vtx.socket("REP");
  const ep = await vtx.bind(rep, "tls://127.0.0.1:0");
  void (async () => {
    for await (const msg of rep) await rep.send(["echo", ...msg]);
  })().catch(() => undefined);
  return { vtx, ep, port: Number(ep.split(":").pop()) };
}

describe("tls:// through tinyproxy (HTTP CONNECT, basic auth)", () => {
  it("connects through the proxy with the right credentials, and the proxy saw the CONNECT", async () => {
    const s = await tlsServer();
    proxy = await startTinyproxy({ user: "zmq", pass: "s3cretPass", connectPorts: [s.port] });
    const c = vtxWithTls({ ca: testPki().ca.cert, proxy: proxy.url("zmq", "s3cretPass") });
    const req = c.socket("REQ");
    await c.connect(req, s.ep);
    await req.send("through the proxy");
    expect(strs(await within(req.receive(), WAIT, "echo through the proxy"))).toEqual(["echo", "through the proxy"]);
    expect(proxy.log()).toMatch(new RegExp(`CONNECT[^\\n]*127\\.0\\.0\\.1:${s.port}`));
  });

  it("wrong proxy credentials end in handshake-failed VTX_PROXY_AUTH", async () => {
    const s = await tlsServer();
    proxy = await startTinyproxy({ user: "zmq", pass: "right", connectPorts: [s.port] });
    const c = vtxWithTls({ ca: testPki().ca.cert });
    const failed = new Promise<VtxEvent>((resolve) => {
      const off = c.on((e) => {
        if (e.type === "handshake-failed") {
          off();
          resolve(e);
        }
      });
    });
    // Per-endpoint proxy option, this time.
    await c.connect(c.socket("REQ"), s.ep, { driver: { proxy: proxy.url("zmq", "wrong") } });
    const ev = await within(failed, WAIT, "handshake-failed");
    expect(ev.error?.code).toBe("VTX_PROXY_AUTH");
  });
});
