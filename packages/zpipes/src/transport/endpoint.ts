import { isIP } from "node:net";

/**
 * Where a ZPIPES endpoint lives when vtx serves it directly (ZMTP over a
 * node:net socket, no libzmq): `ipc://@name` (Linux abstract namespace),
 * `ipc:///path`, and `tcp://host:port`. Anything else (other schemes,
 * interface names, libzmq's `src;dst` form) is undefined: the caller
 * uses a libzmq socket for it.
 */
export type DirectAddress =
  | { readonly kind: "ipc"; readonly path: string }
  | { readonly kind: "tcp"; readonly host: string | undefined; readonly port: number };

/** Parses an endpoint to bind (`*` host = every interface; port `*` or 0 = ephemeral). */
export function directBindAddress(endpoint: string): DirectAddress | undefined {
  return parse(endpoint, true);
}

/** Parses an endpoint to connect to (hostnames allowed; a port is required). */
export function directConnectAddress(endpoint: string): DirectAddress | undefined {
  return parse(endpoint, false);
}

function parse(endpoint: string, bind: boolean): DirectAddress | undefined {
  if (endpoint.startsWith("ipc://")) {
    const rest = endpoint.slice("ipc://".length);
    if (rest === "" || rest === "*" || rest.includes("\0")) return undefined;
    return { kind: "ipc", path: rest.startsWith("@") ? `\0${rest.slice(1)}` : rest };
  }
  if (!endpoint.startsWith("tcp://")) return undefined;
  const rest = endpoint.slice("tcp://".length);
  if (rest.includes(";")) return undefined;
  const colon = rest.lastIndexOf(":");
  if (colon <= 0) return undefined;
  let host = rest.slice(0, colon);
  const portText = rest.slice(colon + 1);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  let port: number;
  if (portText === "*" || portText === "0") {
    if (!bind) return undefined;
    port = 0;
  } else {
    if (!/^[0-9]{1,5}$/.test(portText)) return undefined;
    port = Number(portText);
    if (port < 1 || port > 65535) return undefined;
  }
  if (host === "*") return bind ? { kind: "tcp", host: undefined, port } : undefined;
  if (isIP(host) !== 0 || host === "localhost") return { kind: "tcp", host, port };
  // A bind on a name is libzmq's interface-name syntax; a connect may use DNS.
  if (bind || !/^[A-Za-z0-9.-]+$/.test(host)) return undefined;
  return { kind: "tcp", host, port };
}

/**
 * Node 20 binds and connects abstract unix socket names padded with NULs
 * to the full 108 octets of sun_path, while libzmq uses the name's exact
 * length: to the kernel they are different names, so neither side reaches
 * the other. A broker therefore serves an abstract ipc:// endpoint twice,
 * under node's name for vtx clients and through libzmq under the exact
 * name for everyone else; a vtx client tries node's name first and falls
 * back to libzmq when nothing is there.
 */
export function abstractNeedsLibzmq(addr: DirectAddress): boolean {
  return addr.kind === "ipc" && addr.path.startsWith("\0");
}

/** The endpoint string for a bound address (ephemeral tcp ports resolved). */
export function formatEndpoint(addr: DirectAddress, boundPort?: number): string {
  if (addr.kind === "ipc") return `ipc://${addr.path.startsWith("\0") ? `@${addr.path.slice(1)}` : addr.path}`;
  const host = addr.host === undefined ? "0.0.0.0" : addr.host;
  const port = boundPort ?? addr.port;
  return `tcp://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}
