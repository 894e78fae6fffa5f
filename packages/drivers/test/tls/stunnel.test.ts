/**
 * tls:// is plain ZMTP inside TLS, so libzmq behind a TLS terminator talks
 * to it. Proved with Debian's stunnel4 and native zeromq.js tcp:// sockets:
 *
 *   vtx tls:// connect → stunnel (server) → native tcp:// bind
 *   native tcp:// connect → stunnel (client) → vtx tls:// bind
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as zmq from "zeromq";
import { afterEach, describe, expect, it } from "vitest";
import { Vtx } from "@vtx/runtime";
import { tls } from "@vtx/drivers";
import { freePort, strs, within } from "../helpers.js";
import { requireTool } from "../tools.js";
import { testPki } from "./pki.js";

const WAIT = 8000;
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Runs stunnel4 in the foreground with `services` (and the test PKI written beside its config). */
async function stunnel(services: (files: { cert: string; key: string; ca: string }) => string): Promise<void> {
  const bin = requireTool("stunnel4", "stunnel4");
  const p = testPki();
  const dir = mkdtempSync(join(tmpdir(), "vtx-stunnel-"));
  const files = { cert: join(dir, "server.pem"), key: join(dir, "server.key"), ca: join(dir, "ca.pem") };
  writeFileSync(files.cert, p.server.cert);
  writeFileSync(files.key, p.server.key, { mode: 0o600 });
  writeFileSync(files.ca, p.ca.cert);
  const conf = join(dir, "stunnel.conf");
  writeFileSync(conf, ["foreground = yes", "pid =", "debug = 5", "", services(files), ""].join("\n"));
  const child: ChildProcess = spawn(bin, [conf], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await within(exited, 5000, "stunnel exit");
    rmSync(dir, { recursive: true, force: true });
  });
  await within(
    new Promise<void>((resolve, reject) => {
      const onData = (b: Buffer): void => {
        log += b.toString();
        if (log.includes("Configuration successful")) resolve();
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", onData);
      child.once("exit", (code) => reject(new Error(`stunnel exited (${code}) before it was ready:\n${log}`)));
    }),
    5000,
    "stunnel configured",
  );
}

function vtxWithTls(options: Parameters<typeof tls>[0]): Vtx {
  const v = new Vtx();
  v.register("tls", tls(options));
  cleanups.push(() => v.destroy());
  return v;
}

describe("tls:// against libzmq behind stunnel4", () => {
  it("a vtx tls:// REQ reaches a native tcp:// REP through an stunnel server", async () => {
    const rep = new zmq.Reply({ linger: 0 });
    cleanups.push(() => rep.close());
    await rep.bind("tcp://127.0.0.1:*");
    const backend = rep.lastEndpoint!.replace("tcp://", "");
    const front = await freePort();
    await stunnel((f) => ["[zmtp-server]", `accept = 127.0.0.1:${front}`, `connect = ${backend}`, `cert = ${f.cert}`, `key = ${f.key}`].join("\n"));

    const vtx = vtxWithTls({ ca: testPki().ca.cert });
    const req = vtx.socket("REQ");
    await vtx.connect(req, `tls://127.0.0.1:${front}`);
    for (let i = 0; i < 3; i++) {
      await req.send(["hello", String(i), Buffer.alloc(50_000, i)]);
      const got = await within(rep.receive(), WAIT, "request at the native REP");
      expect(strs(got.slice(0, 2))).toEqual(["hello", String(i)]);
      expect(got[2]!.equals(Buffer.alloc(50_000, i))).toBe(true);
      await rep.send(["world", String(i)]);
      expect(strs(await within(req.receive(), WAIT, "reply at vtx"))).toEqual(["world", String(i)]);
    }
  });

  it("a native tcp:// REQ reaches a vtx tls:// REP through an stunnel client that verifies the certificate", async () => {
    const vtx = vtxWithTls({ key: testPki().server.key, cert: testPki().server.cert });
    const rep = vtx.socket("REP");
    const ep = await vtx.bind(rep, "tls://127.0.0.1:0");
    const tlsPort = Number(ep.split(":").pop());
    const local = await freePort();
    await stunnel((f) =>
      ["[zmtp-client]", "client = yes", `accept = 127.0.0.1:${local}`, `connect = 127.0.0.1:${tlsPort}`, `CAfile = ${f.ca}`, "verifyChain = yes", "checkIP = 127.0.0.1"].join("\n"),
    );

    const req = new zmq.Request({ linger: 0 });
    cleanups.push(() => req.close());
    req.connect(`tcp://127.0.0.1:${local}`);
    for (let i = 0; i < 3; i++) {
      await req.send(["ping", String(i)]);
      expect(strs(await within(rep.receive(), WAIT, "request at vtx"))).toEqual(["ping", String(i)]);
      await rep.send(["pong", String(i), Buffer.alloc(70_000, 7)]);
      const got = await within(req.receive(), WAIT, "reply at the native REQ");
      expect(strs(got.slice(0, 2))).toEqual(["pong", String(i)]);
      expect(got[2]!.length).toBe(70_000);
    }
  });
});
