import * as net from "node:net";
import type { Endpoint } from "@vtx/runtime/driver-kit";
import { VtxError } from "@vtx/runtime/driver-kit";

/**
 * Opens a TCP connection (Nagle off) to `endpoint`, honouring `signal`:
 * the dial step every TCP-based stream transport shares (ztcp directly,
 * tls underneath its handshake). Errors carry the socket error's code.
 */
export function dialTcp(endpoint: Endpoint, signal: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: endpoint.host, port: endpoint.port, noDelay: true });
    const onAbort = (): void => {
      socket.destroy();
      reject(new VtxError("VTX_ABORTED", "dial aborted"));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("error", (err: NodeJS.ErrnoException) => {
      signal.removeEventListener("abort", onAbort);
      reject(new VtxError(err.code ?? "VTX_DIAL", `cannot connect to ${endpoint.raw}: ${err.message}`));
    });
    socket.once("connect", () => {
      signal.removeEventListener("abort", onAbort);
      socket.removeAllListeners("error");
      resolve(socket);
    });
  });
}
