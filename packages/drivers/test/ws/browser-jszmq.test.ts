/**
 * A browser peer: jszmq (ZWS 2.0 in JavaScript, subprotocol "ZWS2.0", no
 * mechanism) running in headless Chromium (Debian's `chromium`), against
 * vtx ws:// binds. The page is served from a local HTTP server with jszmq
 * bundled by esbuild; Chromium is started here with a fresh profile and
 * driven over CDP with playwright-core (never a downloaded browser).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Vtx } from "@vtx/runtime";
import { ws } from "@vtx/drivers";
import { expectEvent, expectFrames, tick, within } from "../helpers.js";
import { requireTool } from "../tools.js";

const WAIT = 10_000;
const DRIVERS_DIR = fileURLToPath(new URL("../..", import.meta.url));

declare const jszmq: {
  Req: new () => JsSocket;
  Sub: new () => JsSocket;
  Dealer: new () => JsSocket & { options: { routingId: string } };
};
interface JsSocket {
  connect(address: string): void;
  send(msg: string | string[]): void;
  subscribe(topic: string): void;
  once(event: "message", cb: (...frames: Array<{ toString(): string }>) => void): void;
  on(event: "message", cb: (...frames: Array<{ toString(): string }>) => void): void;
  close(): void;
}

/** jszmq for the browser: its bind side (Node http, url) is stubbed out, the page only connects. */
async function bundleJszmq(): Promise<string> {
  const stub: esbuild.Plugin = {
    name: "stub-node-server-modules",
    setup(b) {
      b.onResolve({ filter: /^(url|http|https)$/ }, (a) => ({ path: a.path, namespace: "stub" }));
      b.onLoad({ filter: /.*/, namespace: "stub" }, () => ({ contents: "module.exports = {};", loader: "js" }));
    },
  };
  const out = await esbuild.build({
    stdin: { contents: 'import * as jszmq from "jszmq"; globalThis.jszmq = jszmq;', resolveDir: DRIVERS_DIR, loader: "js" },
    bundle: true,
    platform: "browser",
    format: "iife",
    write: false,
    define: { global: "globalThis" },
    // util/assert polyfills look at process.env and process.nextTick.
    banner: { js: "var process = { env: {}, browser: true, version: '', nextTick: (f, ...a) => queueMicrotask(() => f(...a)) };" },
    logLevel: "silent",
    plugins: [stub],
  });
  return out.outputFiles[0]!.text;
}

describe("jszmq in headless Chromium against a vtx ws:// bind", () => {
  let server: http.Server;
  let chrome: ChildProcess;
  let profile: string;
  let browser: Browser;
  let page: Page;
  let vtx: Vtx;

  beforeAll(async () => {
    const bin = requireTool("chromium", "chromium");
    const bundle = await bundleJszmq();
    server = http.createServer((req, res) => {
      if (req.url === "/jszmq.js") {
        res.writeHead(200, { "Content-Type": "text/javascript" }).end(bundle);
        return;
      }
      res.writeHead(200, { "Content-Type": "text/html" }).end('<!doctype html><meta charset="utf-8"><title>vtx jszmq</title><script src="/jszmq.js"></script>');
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const pagePort = (server.address() as AddressInfo).port;

    profile = mkdtempSync(join(tmpdir(), "vtx-chromium-"));
    chrome = spawn(
      bin,
      [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        `--user-data-dir=${profile}`,
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "about:blank",
      ],
      // Its own process group, so that cleanup reaches chromium's helpers too.
      { stdio: ["ignore", "ignore", "pipe"], detached: true },
    );
    let log = "";
    const devtools = await within(
      new Promise<string>((resolve, reject) => {
        chrome.stderr!.on("data", (b: Buffer) => {
          log += b.toString();
          const m = /DevTools listening on (ws:\/\/\S+)/.exec(log);
          if (m) resolve(m[1]!);
        });
        chrome.once("exit", (code) => reject(new Error(`chromium exited (${code}) before listening:\n${log}`)));
        chrome.once("error", reject);
      }),
      20_000,
      "chromium's DevTools endpoint",
    );
    browser = await chromium.connectOverCDP(devtools);
    page = await browser.contexts()[0]!.newPage();
    page.on("pageerror", (e) => console.error("page error:", e.message));
    await page.goto(`http://127.0.0.1:${pagePort}/`);
    expect(await page.evaluate(() => typeof jszmq.Req)).toBe("function");
  }, 60_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    if (chrome && chrome.exitCode === null) {
      const gone = new Promise<void>((r) => chrome.once("exit", () => r()));
      chrome.kill("SIGTERM");
      await within(gone, 10_000, "chromium exit").catch(() => chrome.kill("SIGKILL"));
    }
    // Helpers (renderer, GPU, crashpad) may outlive the browser process for a
    // moment and keep writing into the profile: end the whole group first.
    if (chrome?.pid !== undefined) {
      try {
        process.kill(-chrome.pid, "SIGKILL");
      } catch {
        // The group is gone already.
      }
    }
    await new Promise<void>((r) => server?.close(() => r()));
    if (profile) {
      try {
        rmSync(profile, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
      } catch (err) {
        // A temporary directory left behind is not a test failure; say so.
        console.warn(`could not remove chromium profile ${profile}: ${(err as Error).message}`);
      }
    }
  });

  afterEach(async () => {
    await vtx?.destroy();
  });

  function fresh(): Vtx {
    vtx = new Vtx();
    vtx.register("ws", ws());
    return vtx;
  }

  it("a jszmq REQ in the browser gets its reply from a vtx REP", async () => {
    fresh();
    const rep = vtx.socket("REP");
    const ep = await vtx.bind(rep, "ws://127.0.0.1:0/zmq");
    const browserUp = expectEvent(vtx, (e) => e.socket === rep && e.type === "connected", WAIT, "browser connected");
    const replyInPage = page.evaluate(
      (address) =>
        new Promise<string>((resolve) => {
          const req = new jszmq.Req();
          req.once("message", (m) => {
            resolve(m.toString());
            req.close();
          });
          req.connect(address);
          req.send("hello from chromium");
        }),
      ep,
    );
    await browserUp;
    expectFrames(await within(rep.receive(), WAIT, "request from the browser"), ["hello from chromium"]);
    await rep.send("hello browser, from vtx");
    expect(await within(replyInPage, WAIT, "reply in the page")).toBe("hello browser, from vtx");
  });

  it("a jszmq SUB in the browser receives only its topic from a vtx PUB", async () => {
    fresh();
    const pub = vtx.socket("PUB");
    const ep = await vtx.bind(pub, "ws://127.0.0.1:0/zmq");
    await page.evaluate((address) => {
      const g = globalThis as unknown as { got: string[][]; sub: JsSocket };
      g.got = [];
      g.sub = new jszmq.Sub();
      g.sub.on("message", (...frames) => g.got.push(frames.map((f) => f.toString())));
      g.sub.subscribe("news");
      g.sub.connect(address);
    }, ep);
    const got = (): Promise<string[][]> => page.evaluate(() => (globalThis as unknown as { got: string[][] }).got);
    // The subscription takes a moment to reach the PUB (slow joiner): probe until the page sees one.
    let seen = false;
    for (let i = 0; i < 200 && !seen; i++) {
      await pub.send(["news", "probe"]);
      await tick(25);
      seen = (await got()).length > 0;
    }
    expect(seen).toBe(true);
    await pub.send(["sports", "not subscribed"]);
    await pub.send(["news", "final"]);
    const deadline = Date.now() + WAIT;
    let last: string[][] = [];
    while (Date.now() < deadline) {
      last = await got();
      if (last.some((m) => m[1] === "final")) break;
      await tick(20);
    }
    expect(last.at(-1)).toEqual(["news", "final"]);
    expect(last.every((m) => m[0] === "news")).toBe(true);
    await page.evaluate(() => (globalThis as unknown as { sub: JsSocket }).sub.close());
  });

  it("a jszmq DEALER's routing id (its first ZWS2.0 message) is what a vtx ROUTER routes by", async () => {
    fresh();
    const router = vtx.socket("ROUTER");
    const ep = await vtx.bind(router, "ws://127.0.0.1:0/zmq");
    const answer = page.evaluate(
      (address) =>
        new Promise<string>((resolve) => {
          const dealer = new jszmq.Dealer();
          dealer.options.routingId = "browser-7";
          dealer.once("message", (m) => {
            resolve(m.toString());
            dealer.close();
          });
          dealer.connect(address);
          dealer.send("from the dealer");
        }),
      ep,
    );
    const [id, body] = await within(router.receive(), WAIT, "message at the ROUTER");
    expect(id!.toString()).toBe("browser-7");
    expect(body!.toString()).toBe("from the dealer");
    await router.send(["browser-7", "routed back"]);
    expect(await within(answer, WAIT, "routed reply in the page")).toBe("routed back");
  });
});
