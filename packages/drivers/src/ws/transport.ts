import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import * as tls from "node:tls";
import type { Duplex } from "node:stream";
import type { Endpoint, LinkOptions, StreamTransport } from "@vtx/runtime/driver-kit";
import { formatEndpoint, isWildcardHost, VtxError } from "@vtx/runtime/driver-kit";
import { WebSocket, WebSocketServer } from "ws";
import { connectViaProxy } from "../proxy/http-connect.js";
import { tlsError } from "../tls/tls-errors.js";
import { ZWS_ERR } from "./codes.js";
import { localMechanism, maxPayload, resolveOptions, tlsMaterial, type TlsMaterial, type WsDriverOptions } from "./options.js";
import { isOffered, offeredSubprotocols, parseSubprotocolHeader, selectSubprotocol, type ZwsSubprotocol } from "./subprotocol.js";
import { wsError, ZwsStream } from "./zws-stream.js";

export type WsKind = "ws" | "wss";

/** Bytes of an HTTP error body the client reads to learn our refusal code. */
const MAX_REFUSAL_BODY = 512;

/**
 * The ws:// / wss:// transport: WebSocket upgrade (the `ws` package) and
 * ZWS 2.0 subprotocol negotiation, handing the runtime's stream driver a
 * {@link ZwsStream} per connection. TLS for wss:// is node:tls.
 */
export function wsTransport(kind: WsKind, base: WsDriverOptions | undefined): StreamTransport {
  return {
    listen: (endpoint, options, onConnection, refused) => listen(kind, base, endpoint, options, onConnection, refused),
    dial: async (endpoint, options, signal, refused?: (peer: string, error: VtxError) => void) => {
      try {
        return await dial(kind, base, endpoint, options, signal);
      } catch (err) {
        const e = err instanceof VtxError ? err : new VtxError("VTX_DIAL", String(err), { cause: err });
        // The application hears of refusals (subprotocol, HTTP status, TLS,
        // proxy credentials); an address nobody answers at is only retried.
        if (refused !== undefined && isRefusal(e.code)) refused(authority(endpoint.host, endpoint.port), e);
        throw e;
      }
    },
  };
}

function isRefusal(code: string): boolean {
  if (code === "VTX_ABORTED" || code === "VTX_PROXY_UNREACHABLE") return false;
  return /^(ZWS_|ZMTP_|VTX_TLS_|VTX_PROXY_)/.test(code) || /^(ERR_TLS_|ERR_SSL_)|CERT|SELF_SIGNED|UNABLE_TO/.test(code);
}

/** Writes a minimal HTTP error answer whose body starts with our code, so a vtx client reports the same code. */
function refuse(socket: Duplex, status: number, code: string, text: string): void {
  const body = `${code}: ${text}\n`;
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? "Error"}\r\n` +
        "Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n" +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.end();
}

function listen(
  kind: WsKind,
  base: WsDriverOptions | undefined,
  endpoint: Endpoint,
  options: LinkOptions,
  onConnection: (duplex: Duplex, peer: string) => void,
  refused: ((peer: string, error: VtxError) => void) | undefined,
): Promise<{ endpoint: string; close(): void }> {
  const o = resolveOptions(base, options.driver);
  const { mechanism, plainServer } = localMechanism(options);
  let server: http.Server;
  if (kind === "wss") {
    const t = tlsMaterial(o);
    if (t.key === undefined || t.cert === undefined) {
      return Promise.reject(new VtxError(ZWS_ERR.BAD_OPTION, "a wss:// bind needs the key and cert options"));
    }
    try {
      server = https.createServer({
        ...secureOptions(t),
        requestCert: t.requestCert,
        // As the tls driver: OpenSSL fails the handshake of a client without an acceptable certificate.
        rejectUnauthorized: t.requestCert && t.rejectUnauthorized,
        ...(options.handshakeTimeout > 0 ? { handshakeTimeout: options.handshakeTimeout } : {}),
      });
    } catch (err) {
      return Promise.reject(new VtxError(ZWS_ERR.BAD_OPTION, `cannot use the TLS key/cert for ${endpoint.raw}: ${(err as Error).message}`, { cause: err }));
    }
  } else {
    server = http.createServer();
  }
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: maxPayload(options), skipUTF8Validation: true, clientTracking: false });
  const streams = new WeakMap<object, ZwsStream>();
  const chosen = new WeakMap<http.IncomingMessage, ZwsSubprotocol>();

  server.on(kind === "wss" ? "secureConnection" : "connection", (socket: net.Socket) => {
    socket.setNoDelay(true);
    const stream = new ZwsStream({ plainServer });
    stream.setRaw(socket);
    streams.set(socket, stream);
    // Gone before the upgrade (a port probe): a quiet end, like a TCP peer that never spoke.
    const beforeOpen = (): void => {
      if (stream.subprotocol === undefined && !stream.destroyed) stream.push(null);
    };
    socket.once("close", beforeOpen);
    onConnection(stream, `${socket.remoteAddress}:${socket.remotePort}`);
  });

  // wss: a client whose TLS handshake fails (or never ends) never reaches
  // "secureConnection"; it is reported with the tls driver's VTX_TLS_* codes.
  const tcpPeers = new WeakMap<object, string>();
  if (kind === "wss") server.on("connection", (s: net.Socket) => tcpPeers.set(s, `${s.remoteAddress}:${s.remotePort}`));
  server.on("tlsClientError", (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
    // The TLS socket may have lost its address by now; the TCP socket under it was named at accept.
    const peer = tcpPeers.get((socket as { _parent?: object })._parent ?? socket) ?? `${socket.remoteAddress}:${socket.remotePort}`;
    // Node checks a presented client certificate after the handshake and drops the connection; the reason is authorizationError.
    const why: unknown = socket.authorizationError;
    const cause = typeof why === "string" && why !== "" && err.code === "ECONNRESET" ? Object.assign(new Error(`client certificate refused: ${why}`), { code: why }) : err;
    refused?.(peer, tlsError(cause, `wss client ${peer}`));
    socket.destroy();
  });

  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const err = new VtxError(ZWS_ERR.BAD_UPGRADE, `plain HTTP ${req.method ?? "?"} request, not a WebSocket upgrade`);
    res.writeHead(426, { "Content-Type": "text/plain; charset=utf-8", Connection: "close", Upgrade: "websocket" });
    res.end(`${err.code}: this endpoint speaks ZWS 2.0 over WebSocket only\n`);
    streams.get(req.socket)?.fail(err);
  });

  server.on("clientError", (err: Error, socket: Duplex) => {
    refuse(socket, 400, ZWS_ERR.BAD_UPGRADE, "malformed HTTP request");
    streams.get(socket)?.fail(new VtxError(ZWS_ERR.BAD_UPGRADE, `malformed HTTP request: ${err.message}`, { cause: err }));
  });

  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const stream = streams.get(socket);
    if (stream === undefined || stream.destroyed) {
      socket.destroy();
      return;
    }
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    // A bind without a path takes any (as libzmq does); with one, only that one.
    if (endpoint.path !== "" && path !== endpoint.path) {
      const err = new VtxError(ZWS_ERR.PATH_NOT_FOUND, `no ZWS endpoint at ${path} (bound at ${endpoint.path})`, { detail: { path } });
      refuse(socket, 404, err.code, err.message);
      stream.fail(err);
      return;
    }
    const offered = parseSubprotocolHeader(req.headers["sec-websocket-protocol"]);
    const protocol = selectSubprotocol(offered, mechanism);
    if (protocol === undefined) {
      // RFC 45 §"Handshake": none of the client's subprotocols → refuse (we answer 400).
      const err = new VtxError(
        ZWS_ERR.SUBPROTOCOL,
        `client offers ${offered.length ? offered.join(", ") : "no subprotocol"}; this ${mechanism} endpoint speaks ${mechanism === "PLAIN" ? "ZWS2.0/PLAIN" : "ZWS2.0/NULL, ZWS2.0"}`,
        { detail: { offered } },
      );
      refuse(socket, 400, err.code, err.message);
      stream.fail(err);
      return;
    }
    // `ws` rejects "ZWS2.0/NULL" (a "/" is not a token character); we
    // negotiated it ourselves and add our answer in the "headers" event.
    delete req.headers["sec-websocket-protocol"];
    chosen.set(req, protocol);
    wss.handleUpgrade(req, socket, head, (ws) => stream.open(ws, socket as net.Socket, protocol));
  });

  wss.on("headers", (headers: string[], req: http.IncomingMessage) => {
    const protocol = chosen.get(req);
    if (protocol !== undefined) headers.push(`Sec-WebSocket-Protocol: ${protocol}`);
  });

  // With a listener, `ws` leaves a bad upgrade (version, key, method) to us.
  wss.on("wsClientError", (err: Error, socket: Duplex) => {
    refuse(socket, 400, ZWS_ERR.BAD_UPGRADE, err.message);
    streams.get(socket)?.fail(new VtxError(ZWS_ERR.BAD_UPGRADE, `bad WebSocket upgrade: ${err.message}`, { cause: err }));
  });

  return new Promise((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(new VtxError(err.code === "EADDRINUSE" ? "VTX_ADDRESS_IN_USE" : "VTX_LISTEN", err.message, { cause: err })),
    );
    const host = isWildcardHost(endpoint.host) ? undefined : endpoint.host;
    server.listen({ host, port: endpoint.port }, () => {
      server.on("error", () => undefined);
      const { port } = server.address() as net.AddressInfo;
      resolve({
        endpoint: formatEndpoint(endpoint.scheme, endpoint.host || "*", port, endpoint.path),
        close: () => {
          server.close();
          wss.close();
        },
      });
    });
  });
}

function secureOptions(t: TlsMaterial): tls.SecureContextOptions {
  return {
    ...(t.key !== undefined ? { key: t.key } : {}),
    ...(t.cert !== undefined ? { cert: t.cert } : {}),
    ...(t.passphrase !== undefined ? { passphrase: t.passphrase } : {}),
    ...(t.ca !== undefined ? { ca: t.ca } : {}),
    ...(t.minVersion !== undefined ? { minVersion: t.minVersion } : {}),
    ...(t.ciphers !== undefined ? { ciphers: t.ciphers } : {}),
  };
}

/** Host as it goes in a URL and the Host header: IPv6 literals in brackets. */
function authority(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

async function dial(
  kind: WsKind,
  base: WsDriverOptions | undefined,
  endpoint: Endpoint,
  options: LinkOptions,
  signal: AbortSignal,
): Promise<{ duplex: Duplex; peer: string }> {
  const o = resolveOptions(base, options.driver);
  const { mechanism, plainServer } = localMechanism(options);
  const t = kind === "wss" ? tlsMaterial(o) : undefined;
  const timeout = options.handshakeTimeout > 0 ? options.handshakeTimeout : 10_000;
  const tunnel =
    o.proxy !== undefined
      ? await connectViaProxy({ proxy: o.proxy, host: endpoint.host, port: endpoint.port, signal, timeoutMs: timeout })
      : undefined;
  if (signal.aborted) {
    tunnel?.destroy();
    throw new VtxError("VTX_ABORTED", "dial aborted");
  }

  // The socket under the WebSocket: TCP, TLS, or either inside the proxy tunnel.
  let raw: net.Socket;
  if (t !== undefined) {
    raw = tls.connect({
      ...(tunnel ? { socket: tunnel } : { port: endpoint.port }),
      host: endpoint.host,
      // RFC 6066 §3: no IP literals in SNI; the certificate is still checked against the host.
      ...(t.servername !== undefined ? { servername: t.servername } : net.isIP(endpoint.host) ? {} : { servername: endpoint.host }),
      ...(t.servername !== undefined ? { checkServerIdentity: (_h: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(t.servername!, cert) } : {}),
      ...secureOptions(t),
      rejectUnauthorized: t.rejectUnauthorized,
    });
  } else {
    raw = tunnel ?? net.connect({ host: endpoint.host, port: endpoint.port });
  }
  raw.setNoDelay(true);
  // Errors before the TLS handshake completes are TLS errors (certificate checks...).
  let tlsUp = t === undefined;
  if (!tlsUp) raw.once("secureConnect", () => (tlsUp = true));

  const where = authority(endpoint.host, endpoint.port);
  const path = endpoint.path === "" ? "/" : endpoint.path;
  return new Promise((resolve, reject) => {
    let settled = false;
    let protocol: string | undefined;
    // Offered by hand: `ws` refuses "ZWS2.0/NULL" as a subprotocol name.
    const ws = new WebSocket(`${kind}://${where}${path}`, {
      perMessageDeflate: false,
      maxPayload: maxPayload(options),
      skipUTF8Validation: true,
      handshakeTimeout: timeout,
      followRedirects: false,
      headers: { "Sec-WebSocket-Protocol": offeredSubprotocols(mechanism).join(", ") },
      createConnection: () => raw,
    });
    const fail = (err: VtxError): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      ws.terminate();
      raw.destroy();
      reject(err);
    };
    const onAbort = (): void => fail(new VtxError("VTX_ABORTED", "dial aborted"));
    signal.addEventListener("abort", onAbort, { once: true });

    ws.on("upgrade", (res: http.IncomingMessage) => {
      const answer = res.headers["sec-websocket-protocol"];
      protocol = typeof answer === "string" ? answer.trim() : undefined;
      // Checked here, then hidden from `ws`, which cannot parse "ZWS2.0/NULL".
      delete res.headers["sec-websocket-protocol"];
      if (protocol === undefined || !isOffered(protocol, mechanism)) {
        fail(
          new VtxError(
            ZWS_ERR.SUBPROTOCOL,
            protocol === undefined ? "server chose no ZWS subprotocol" : `server chose ${protocol}, which we did not offer`,
            { detail: { offered: offeredSubprotocols(mechanism), chosen: protocol } },
          ),
        );
      }
    });
    ws.on("unexpected-response", (_req: http.ClientRequest, res: http.IncomingMessage) => {
      // Our servers start the body with the refusal code; read a little of it (bounded in size and time).
      let body = "";
      const finish = (): void => {
        clearTimeout(timer);
        const m = /^(ZWS_[A-Z_]+|ZMTP_[A-Z_]+): ?(.*)/.exec(body);
        const status = res.statusCode ?? 0;
        fail(
          new VtxError(m?.[1] ?? ZWS_ERR.UPGRADE_REFUSED, `${where}${path} answered ${status}${m?.[2] ? `: ${m[2].trim()}` : ""}`, {
            detail: { status },
          }),
        );
      };
      const timer = setTimeout(finish, 1000);
      res.on("data", (chunk: Buffer) => {
        body += chunk.toString("utf8");
        if (body.length >= MAX_REFUSAL_BODY) finish();
      });
      res.on("end", finish);
      res.on("error", finish);
    });
    ws.on("error", (err: Error & { code?: string }) => {
      // Socket errnos (ECONNREFUSED...) stay as they are: an address nobody answers at.
      // So are TLS alerts after it (TLS 1.3: a server refusing our certificate answers late).
      if (t !== undefined && (!tlsUp || /^ERR_(SSL|TLS)_/.test(err.code ?? "")) && !/^E[A-Z]+$/.test(err.code ?? "")) {
        fail(tlsError(err, `wss ${where}`));
        return;
      }
      const e = wsError(err);
      fail(
        err.code === undefined && /handshake has timed out/i.test(err.message)
          ? new VtxError("ZMTP_HANDSHAKE_TIMEOUT", `WebSocket upgrade to ${where} not answered within ${timeout} ms`)
          : e.code === "VTX_STREAM_ERROR"
            ? new VtxError(ZWS_ERR.BAD_UPGRADE, `WebSocket upgrade to ${where} failed: ${err.message}`, { cause: err })
            : e,
      );
    });
    ws.on("open", () => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      ws.removeAllListeners("error");
      ws.removeAllListeners("unexpected-response");
      const stream = new ZwsStream({ plainServer });
      stream.open(ws, raw, protocol as ZwsSubprotocol);
      resolve({ duplex: stream, peer: where });
    });
  });
}
