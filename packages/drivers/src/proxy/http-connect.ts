import * as net from "node:net";
import { VtxError } from "@vtx/runtime/driver-kit";

/**
 * HTTP CONNECT tunnelling (RFC 9110 §9.3.6): open a TCP connection to an
 * HTTP proxy, ask it to connect onwards to `host:port`, and hand back the
 * socket once the proxy answers 2xx. From then on the socket carries the
 * caller's bytes end to end (TLS, WebSocket, ZMTP...).
 *
 * Shared by every stream driver that accepts a `proxy` option (tls, ws, wss).
 *
 * Error codes (all {@link VtxError}):
 * - `VTX_PROXY_URL`: the proxy URL is not `http://[user:pass@]host:port`
 * - `VTX_PROXY_UNREACHABLE`: the TCP connection to the proxy failed (`cause` is the socket error)
 * - `VTX_PROXY_AUTH`: the proxy answered 407 (or 401, as tinyproxy does): missing or wrong credentials
 * - `VTX_PROXY_REFUSED`: any other non-2xx status (403 for a forbidden port, 502 when the target is down, ...);
 *   `detail.status` holds the status code
 * - `VTX_PROXY_BAD_RESPONSE`: not an HTTP/1.x answer, or headers over {@link MAX_PROXY_RESPONSE} bytes
 * - `VTX_PROXY_CLOSED`: the proxy closed the connection before answering
 * - `VTX_PROXY_TIMEOUT`: no complete answer within `timeoutMs`
 * - `VTX_ABORTED`: `signal` aborted
 */
export interface ProxyConnectOptions {
  /** `http://host:port` or `http://user:password@host:port` (user and password percent-encoded as in any URL). */
  proxy: string;
  /** The target host the proxy should connect to (a name, IPv4 or IPv6 literal without brackets). */
  host: string;
  port: number;
  signal?: AbortSignal;
  /** Bound on connecting to the proxy plus reading its answer. Default 10 s. */
  timeoutMs?: number;
}

/** A proxy answer's header block is small; a proxy that sends more is not one we understand. */
export const MAX_PROXY_RESPONSE = 16 * 1024;

export const DEFAULT_PROXY_TIMEOUT_MS = 10_000;

export interface ParsedProxyUrl {
  host: string;
  port: number;
  /** `Basic <base64>` when the URL carries credentials. */
  authorization: string | undefined;
}

/** Parses `http://[user:pass@]host[:port]`; the port defaults to 80 like any http URL. */
export function parseProxyUrl(proxy: string): ParsedProxyUrl {
  let url: URL;
  try {
    url = new URL(proxy);
  } catch {
    throw new VtxError("VTX_PROXY_URL", `proxy is not a URL: ${JSON.stringify(proxy)}`);
  }
  if (url.protocol !== "http:") {
    throw new VtxError("VTX_PROXY_URL", `proxy must be an http:// URL (CONNECT over plain HTTP), got ${url.protocol}`);
  }
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  if (host === "") throw new VtxError("VTX_PROXY_URL", `proxy URL has no host: ${JSON.stringify(proxy)}`);
  const port = url.port === "" ? 80 : Number(url.port);
  let authorization: string | undefined;
  if (url.username !== "" || url.password !== "") {
    const creds = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    // RFC 7617: Basic credentials are base64 of "user:password" (UTF-8).
    authorization = `Basic ${Buffer.from(creds, "utf8").toString("base64")}`;
  }
  return { host, port, authorization };
}

/** The CONNECT request: authority-form target (RFC 9112 §3.2.3), IPv6 literals in brackets. */
export function connectRequest(host: string, port: number, authorization: string | undefined): string {
  const authority = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  let req = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n`;
  if (authorization !== undefined) req += `Proxy-Authorization: ${authorization}\r\n`;
  return `${req}\r\n`;
}

export interface ProxyResponseHead {
  status: number;
  reason: string;
  /** Bytes after the blank line: already the tunnelled stream. */
  rest: Buffer;
}

/**
 * Looks for a complete response head in `buf`. Returns `undefined` while
 * more bytes are needed; throws `VTX_PROXY_BAD_RESPONSE` on a malformed or
 * oversized head.
 */
export function parseProxyResponse(buf: Buffer): ProxyResponseHead | undefined {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) {
    if (buf.length > MAX_PROXY_RESPONSE) {
      throw new VtxError("VTX_PROXY_BAD_RESPONSE", `proxy response head exceeds ${MAX_PROXY_RESPONSE} bytes`);
    }
    // Fail early on garbage rather than waiting for a blank line that never comes.
    if (buf.length >= 5 && !buf.subarray(0, 5).equals(Buffer.from("HTTP/"))) {
      throw new VtxError("VTX_PROXY_BAD_RESPONSE", "proxy did not answer with HTTP");
    }
    return undefined;
  }
  if (end > MAX_PROXY_RESPONSE) {
    throw new VtxError("VTX_PROXY_BAD_RESPONSE", `proxy response head exceeds ${MAX_PROXY_RESPONSE} bytes`);
  }
  const statusLine = buf.subarray(0, buf.indexOf("\r\n")).toString("latin1");
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!m) throw new VtxError("VTX_PROXY_BAD_RESPONSE", `bad proxy status line: ${JSON.stringify(statusLine.slice(0, 80))}`);
  return { status: Number(m[1]), reason: m[2] ?? "", rest: buf.subarray(end + 4) };
}

/**
 * Opens a tunnel through an HTTP proxy to `host:port`. Resolves with the
 * connected socket (paused-free: attach readers as with any fresh socket;
 * any bytes the target already sent are unshifted back onto it).
 */
export function connectViaProxy(options: ProxyConnectOptions): Promise<net.Socket> {
  const { host, port, signal } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROXY_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    // A throw here (bad URL) rejects the promise: executors turn throws into rejections.
    const parsed = parseProxyUrl(options.proxy);
    if (signal?.aborted) {
      reject(new VtxError("VTX_ABORTED", "proxy connect aborted"));
      return;
    }
    const where = `proxy ${parsed.host}:${parsed.port} → ${host}:${port}`;
    const socket = net.connect({ host: parsed.host, port: parsed.port, noDelay: true });
    let received: Buffer = Buffer.alloc(0);
    let settled = false;
    let connected = false;

    const cleanup = (): void => {
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.removeListener("error", onError);
      socket.removeListener("readable", onReadable);
      socket.removeListener("end", onEnd);
      socket.removeListener("close", onEnd);
    };
    const fail = (err: VtxError): void => {
      if (settled) return;
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onAbort = (): void => fail(new VtxError("VTX_ABORTED", `${where}: aborted`));
    const onError = (err: NodeJS.ErrnoException): void => {
      fail(
        !connected
          ? new VtxError("VTX_PROXY_UNREACHABLE", `${where}: cannot reach the proxy: ${err.message}`, { cause: err, detail: { errno: err.code } })
          : new VtxError("VTX_PROXY_CLOSED", `${where}: ${err.message}`, { cause: err }),
      );
    };
    const onEnd = (): void => fail(new VtxError("VTX_PROXY_CLOSED", `${where}: the proxy closed the connection before answering CONNECT`));
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (!settled && (chunk = socket.read() as Buffer | null) !== null) {
        received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
        let head: ProxyResponseHead | undefined;
        try {
          head = parseProxyResponse(received);
        } catch (err) {
          fail(err as VtxError);
          return;
        }
        if (head === undefined) continue;
        if (head.status >= 200 && head.status < 300) {
          cleanup();
          // Bytes past the head belong to the tunnelled protocol: give them back.
          if (head.rest.length > 0) socket.unshift(head.rest);
          resolve(socket);
        } else if (head.status === 407 || head.status === 401) {
          // 407 is the standard answer; tinyproxy 1.11 answers a CONNECT with 401.
          fail(
            new VtxError("VTX_PROXY_AUTH", `${where}: proxy authentication ${parsed.authorization ? "rejected" : "required"} (${head.status} ${head.reason})`, {
              detail: { status: head.status },
            }),
          );
        } else {
          fail(new VtxError("VTX_PROXY_REFUSED", `${where}: proxy refused the tunnel (${head.status} ${head.reason})`, { detail: { status: head.status } }));
        }
        return;
      }
    };
    const timer = setTimeout(
      () => fail(new VtxError("VTX_PROXY_TIMEOUT", `${where}: no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.on("error", onError);
    socket.on("end", onEnd);
    socket.on("close", onEnd);
    socket.once("connect", () => {
      connected = true;
      socket.write(connectRequest(host, port, parsed.authorization));
      // 'readable' (not 'data') so unread bytes stay in the stream for unshift, and
      // the stream returns to its default mode once this listener is removed.
      socket.on("readable", onReadable);
    });
  });
}
