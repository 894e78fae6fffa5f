import * as net from "node:net";
import type { Endpoint, LinkOptions, StreamTransport } from "@vtx/runtime/driver-kit";
import { formatEndpoint, isWildcardHost, VtxError } from "@vtx/runtime/driver-kit";
import { dialTcp } from "../net/dial-tcp.js";

/**
 * ZMTP over plain TCP: the smallest stream transport, and the one a driver
 * author copies. Listening and dialing are all it does; the runtime's
 * stream driver does framing, handshake, heartbeats, reconnects, bridging.
 */
export const tcpTransport: StreamTransport = {
  listen(endpoint: Endpoint, _options: LinkOptions, onConnection) {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ noDelay: true }, (socket) => {
        onConnection(socket, `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? 0}`);
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

  async dial(endpoint: Endpoint, _options: LinkOptions, signal: AbortSignal) {
    if (isWildcardHost(endpoint.host)) {
      throw new VtxError("VTX_ENDPOINT_MALFORMED", `cannot connect to a wildcard host: ${endpoint.raw}`);
    }
    const socket = await dialTcp(endpoint, signal);
    return { duplex: socket, peer: `${socket.remoteAddress ?? endpoint.host}:${socket.remotePort ?? endpoint.port}` };
  },
};
