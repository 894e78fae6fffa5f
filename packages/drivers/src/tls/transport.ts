import * as net from "node:net";
import * as tls from "node:tls";
import type { Endpoint, LinkOptions, StreamTransport } from "@vtx/runtime/driver-kit";
import { formatEndpoint, isWildcardHost, VtxError } from "@vtx/runtime/driver-kit";
import { dialTcp } from "../net/dial-tcp.js";
import { connectViaProxy } from "../proxy/http-connect.js";
import { resolveTlsOptions, type TlsOptions } from "./options.js";
import { tlsError } from "./tls-errors.js";

/** Bound on the TLS handshake when the link has no handshake timeout (Node's own default). */
const DEFAULT_TLS_HANDSHAKE_MS = 120_000;

function handshakeMs(link: LinkOptions): number {
  return link.handshakeTimeout > 0 ? link.handshakeTimeout : DEFAULT_TLS_HANDSHAKE_MS;
}

/** Errors worth telling the application about on a dial: a proxy that refuses us is configuration, not a peer being down. */
const REPORTED_PROXY_CODES = new Set(["VTX_PROXY_AUTH", "VTX_PROXY_REFUSED", "VTX_PROXY_BAD_RESPONSE", "VTX_PROXY_URL"]);

function secureOptions(o: TlsOptions): tls.SecureContextOptions {
  return {
    ...(o.key !== undefined ? { key: o.key } : {}),
    ...(o.cert !== undefined ? { cert: o.cert } : {}),
    ...(o.passphrase !== undefined ? { passphrase: o.passphrase } : {}),
    ...(o.ca !== undefined ? { ca: o.ca } : {}),
    ...(o.minVersion !== undefined ? { minVersion: o.minVersion } : {}),
    ...(o.ciphers !== undefined ? { ciphers: o.ciphers } : {}),
  };
}

function rawConnect(endpoint: Endpoint, o: TlsOptions, signal: AbortSignal, timeoutMs: number): Promise<net.Socket> {
  if (o.proxy !== undefined) return connectViaProxy({ proxy: o.proxy, host: endpoint.host, port: endpoint.port, signal, timeoutMs });
  return dialTcp(endpoint, signal);
}

/**
 * ZMTP inside TLS. The TLS handshake completes before the stream is handed
 * to the runtime (which then runs the ZMTP greeting and mechanism inside
 * it); TLS failures are reported through `refused` as handshake-failed
 * events with a `VTX_TLS_*` code. Both sides bound the TLS handshake by the
 * link's handshake timeout, so a client that connects and never speaks TLS
 * is cut off.
 */
export function tlsTransport(specOptions: TlsOptions): StreamTransport {
  return {
    listen(endpoint, link, onConnection, refused) {
      return new Promise((resolve, reject) => {
        const o = resolveTlsOptions(specOptions, link.driver);
        if (o.key === undefined || o.cert === undefined) {
          reject(new VtxError("VTX_TLS_OPTIONS", `binding ${endpoint.raw} needs a key and a cert (tls({ key, cert }) or the bind's driver options)`));
          return;
        }
        const requestCert = o.requestCert === true;
        const peers = new WeakMap<net.Socket, string>();
        let server: tls.Server;
        try {
          server = tls.createServer({
            ...secureOptions(o),
            requestCert,
            // OpenSSL itself fails a handshake without an acceptable client certificate, so the client gets an alert it can report.
            rejectUnauthorized: requestCert && o.rejectUnauthorized !== false,
            handshakeTimeout: handshakeMs(link),
            noDelay: true,
          });
        } catch (err) {
          reject(new VtxError("VTX_TLS_OPTIONS", `cannot use the TLS key/cert for ${endpoint.raw}: ${(err as Error).message}`, { cause: err }));
          return;
        }
        server.on("secureConnection", (socket: tls.TLSSocket) => {
          const peer = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? 0}`;
          socket.setNoDelay(true);
          onConnection(socket, peer);
        });
        server.on("connection", (raw: net.Socket) => {
          // The TLS socket may have lost its address by the time it fails: remember it now.
          peers.set(raw, `${raw.remoteAddress ?? "?"}:${raw.remotePort ?? 0}`);
        });
        server.on("tlsClientError", (err: NodeJS.ErrnoException, socket) => {
          // The address of a failed TLS socket is often gone; its TCP socket (Node's `_parent`) was seen on 'connection'.
          const peer = peers.get((socket as { _parent?: net.Socket })._parent ?? socket) ?? `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? 0}`;
          // Node checks a presented client certificate after the TLS handshake and just drops the
          // connection ("socket hang up"); the reason is in authorizationError.
          const why: unknown = socket.authorizationError;
          const cause =
            requestCert && typeof why === "string" && why !== "" && err.code === "ECONNRESET"
              ? Object.assign(new Error(`client certificate refused: ${why}`), { code: why })
              : err;
          refused?.(peer, tlsError(cause, `TLS handshake with ${peer} on ${endpoint.raw}`));
          socket.destroy();
        });
        server.once("error", (err: NodeJS.ErrnoException) =>
          reject(new VtxError(err.code === "EADDRINUSE" ? "VTX_ADDRESS_IN_USE" : (err.code ?? "VTX_LISTEN"), `cannot listen on ${endpoint.raw}: ${err.message}`)),
        );
        const host = isWildcardHost(endpoint.host) ? (endpoint.host === "::" ? "::" : undefined) : endpoint.host;
        server.listen({ host, port: endpoint.port, ipv6Only: false }, () => {
          server.on("error", () => undefined);
          const addr = server.address() as net.AddressInfo;
          const shownHost = isWildcardHost(endpoint.host) ? endpoint.host || "*" : endpoint.host;
          resolve({
            endpoint: formatEndpoint(endpoint.scheme, shownHost === "*" ? "*" : shownHost, addr.port, endpoint.path),
            close: () => server.close(),
          });
        });
      });
    },

    async dial(endpoint, link, signal, refused) {
      if (isWildcardHost(endpoint.host)) throw new VtxError("VTX_ENDPOINT_MALFORMED", `cannot connect to a wildcard host: ${endpoint.raw}`);
      const o = resolveTlsOptions(specOptions, link.driver);
      const peer = `${endpoint.host}:${endpoint.port}`;
      const timeoutMs = handshakeMs(link);
      let raw: net.Socket;
      try {
        raw = await rawConnect(endpoint, o, signal, timeoutMs);
      } catch (err) {
        if (err instanceof VtxError && REPORTED_PROXY_CODES.has(err.code)) refused?.(peer, err);
        throw err;
      }
      return new Promise((resolve, reject) => {
        const servername = o.servername ?? (net.isIP(endpoint.host) === 0 ? endpoint.host : undefined);
        let socket: tls.TLSSocket;
        try {
          socket = tls.connect({
            ...secureOptions(o),
            socket: raw,
            // host is what the certificate is checked against when no servername is given (IP SANs for IP endpoints).
            host: endpoint.host,
            ...(servername !== undefined ? { servername } : {}),
            rejectUnauthorized: o.rejectUnauthorized !== false,
          });
        } catch (err) {
          // Unusable key/cert/ca PEM: a configuration error the application must hear about.
          raw.destroy();
          const e = new VtxError("VTX_TLS_OPTIONS", `cannot use the TLS options for ${endpoint.raw}: ${(err as Error).message}`, { cause: err });
          refused?.(peer, e);
          reject(e);
          return;
        }
        let done = false;
        const finish = (err: VtxError | undefined): void => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          socket.removeListener("error", onError);
          socket.removeListener("close", onClose);
          // Unread bytes stay buffered for the link; without a 'readable' listener the stream returns to its default mode.
          socket.removeListener("readable", onReadable);
          if (err === undefined) {
            socket.setNoDelay(true);
            resolve({ duplex: socket, peer });
            return;
          }
          socket.destroy();
          raw.destroy();
          if (err.code !== "VTX_ABORTED") refused?.(peer, err);
          reject(err);
        };
        let secure = false;
        const onError = (err: Error): void => finish(tlsError(err, `TLS handshake with ${endpoint.raw}`));
        const onClose = (): void =>
          finish(
            secure && o.cert !== undefined
              ? // TLS 1.3: a server that dislikes our certificate hangs up right after the handshake.
                new VtxError("VTX_TLS_PEER_REFUSED_CERT", `${endpoint.raw}: the server closed the connection after the TLS handshake (our certificate was refused?)`)
              : new VtxError("VTX_TLS_HANDSHAKE", `TLS handshake with ${endpoint.raw}: the peer closed the connection${secure ? " right after the handshake" : ""}`),
          );
        const onAbort = (): void => finish(new VtxError("VTX_ABORTED", "dial aborted"));
        // Once TLS is up, resolve on the peer's first byte (every ZMTP peer greets at once): with
        // TLS 1.3 a server refuses a client certificate only after the client's handshake is over,
        // and this way that alert is still a handshake failure with its code, not a link error.
        const onReadable = (): void => {
          if (socket.readableLength > 0) finish(undefined);
        };
        const timer = setTimeout(
          () =>
            finish(
              secure
                ? new VtxError("ZMTP_HANDSHAKE_TIMEOUT", `${endpoint.raw}: TLS is up but the peer sent nothing within ${timeoutMs} ms`)
                : new VtxError("VTX_TLS_HANDSHAKE_TIMEOUT", `TLS handshake with ${endpoint.raw} not finished within ${timeoutMs} ms`),
            ),
          timeoutMs,
        );
        signal.addEventListener("abort", onAbort, { once: true });
        socket.once("error", onError);
        socket.once("close", onClose);
        socket.once("secureConnect", () => {
          secure = true;
          socket.on("readable", onReadable);
        });
      });
    },
  };
}
