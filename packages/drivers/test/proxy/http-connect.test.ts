import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { connectViaProxy, connectRequest, parseProxyResponse, parseProxyUrl } from "../../src/proxy/http-connect.js";
import { freePort, within } from "../helpers.js";
import { startTinyproxy, type Tinyproxy } from "./tinyproxy.js";

/** A loopback server that greets first (like a ZMTP peer) and echoes. */
async function greetingEcho(): Promise<{ port: number; close: () => Promise<void> }> {
  const open = new Set<net.Socket>();
  const server = net.createServer((s) => {
    open.add(s);
    s.once("close", () => open.delete(s));
    s.write("hello from target\n");
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of open) s.destroy();
        server.close(() => r());
      }),
  };
}

function readUntil(s: net.Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    let got = "";
    const on = (b: Buffer): void => {
      got += b.toString();
      if (got.includes(text)) {
        s.off("data", on);
        resolve(got);
      }
    };
    s.on("data", on);
  });
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await within(p, 8000, "connectViaProxy to settle");
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  return "resolved";
}

describe("HTTP CONNECT helper (pure parts)", () => {
  it("parses credentials into a Basic header and defaults the port to 80", () => {
    expect(parseProxyUrl("http://al%40ice:p%3Ass@proxy.example:3128")).toEqual({
      host: "proxy.example",
      port: 3128,
      authorization: `Basic ${Buffer.from("al@ice:p:ss").toString("base64")}`,
    });
    expect(parseProxyUrl("http://[::1]").port).toBe(80);
    expect(parseProxyUrl("http://[::1]").host).toBe("::1");
  });

  it("refuses a non-http proxy URL with VTX_PROXY_URL", () => {
    expect(() => parseProxyUrl("https://p:1")).toThrowError(expect.objectContaining({ code: "VTX_PROXY_URL" }) as Error);
    expect(() => parseProxyUrl("not a url")).toThrowError(expect.objectContaining({ code: "VTX_PROXY_URL" }) as Error);
  });

  it("brackets an IPv6 target in the request line", () => {
    expect(connectRequest("::1", 5555, undefined)).toBe("CONNECT [::1]:5555 HTTP/1.1\r\nHost: [::1]:5555\r\n\r\n");
  });

  it("waits for the blank line, keeps bytes after it, and rejects garbage early", () => {
    const full = Buffer.from("HTTP/1.0 200 Connection established\r\nProxy-agent: x\r\n\r\nZMTP");
    for (let i = 0; i < full.indexOf("\r\n\r\n") + 3; i++) expect(parseProxyResponse(full.subarray(0, i))).toBeUndefined();
    const head = parseProxyResponse(full);
    expect(head?.status).toBe(200);
    expect(head?.rest.toString()).toBe("ZMTP");
    expect(() => parseProxyResponse(Buffer.from("\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f"))).toThrowError(
      expect.objectContaining({ code: "VTX_PROXY_BAD_RESPONSE" }) as Error,
    );
    expect(() => parseProxyResponse(Buffer.alloc(20_000, "HTTP/1.1 200 "))).toThrowError(
      expect.objectContaining({ code: "VTX_PROXY_BAD_RESPONSE" }) as Error,
    );
  });
});

describe("HTTP CONNECT through a real tinyproxy", () => {
  let proxy: Tinyproxy | undefined;
  let target: { port: number; close: () => Promise<void> } | undefined;
  afterEach(async () => {
    await proxy?.stop();
    await target?.close();
    proxy = undefined;
    target = undefined;
  });

  it("tunnels to the target with the right credentials, keeping the bytes the target sent first", async () => {
    target = await greetingEcho();
    proxy = await startTinyproxy({ user: "alice", pass: "s3cret", connectPorts: [target.port] });
    const s = await within(connectViaProxy({ proxy: proxy.url("alice", "s3cret"), host: "127.0.0.1", port: target.port }), 8000, "tunnel");
    try {
      expect(await within(readUntil(s, "target\n"), 5000, "greeting")).toBe("hello from target\n");
      s.write("ping");
      expect(await within(readUntil(s, "ping"), 5000, "echo")).toBe("ping");
    } finally {
      s.destroy();
    }
  });

  it("reports wrong credentials as VTX_PROXY_AUTH", async () => {
    target = await greetingEcho();
    proxy = await startTinyproxy({ user: "alice", pass: "s3cret", connectPorts: [target.port] });
    expect(await codeOf(connectViaProxy({ proxy: proxy.url("alice", "wrong"), host: "127.0.0.1", port: target.port }))).toBe("VTX_PROXY_AUTH");
    expect(await codeOf(connectViaProxy({ proxy: proxy.url(), host: "127.0.0.1", port: target.port }))).toBe("VTX_PROXY_AUTH");
  });

  it("reports a port the proxy does not allow as VTX_PROXY_REFUSED", async () => {
    target = await greetingEcho();
    proxy = await startTinyproxy({ connectPorts: [target.port === 1 ? 2 : 1] });
    expect(await codeOf(connectViaProxy({ proxy: proxy.url(), host: "127.0.0.1", port: target.port }))).toBe("VTX_PROXY_REFUSED");
  });

  it("reports an unreachable proxy as VTX_PROXY_UNREACHABLE and a non-proxy as VTX_PROXY_BAD_RESPONSE", async () => {
    const port = await freePort();
    expect(await codeOf(connectViaProxy({ proxy: `http://127.0.0.1:${port}`, host: "127.0.0.1", port: 1 }))).toBe("VTX_PROXY_UNREACHABLE");
    target = await greetingEcho();
    expect(await codeOf(connectViaProxy({ proxy: `http://127.0.0.1:${target.port}`, host: "127.0.0.1", port: 1 }))).toBe("VTX_PROXY_BAD_RESPONSE");
  });

  it("stops on abort with VTX_ABORTED", async () => {
    // A listener that accepts and never answers: only the abort can end the wait.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    try {
      const ac = new AbortController();
      const p = connectViaProxy({ proxy: `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`, host: "127.0.0.1", port: 1, signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      expect(await codeOf(p)).toBe("VTX_ABORTED");
      const p2 = connectViaProxy({ proxy: `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`, host: "127.0.0.1", port: 1, timeoutMs: 100 });
      expect(await codeOf(p2)).toBe("VTX_PROXY_TIMEOUT");
    } finally {
      silent.close();
    }
  });
});
