import { VtxError } from "./errors.js";

/**
 * A parsed endpoint `scheme://host:port/path`. `host` is `*` (or `0.0.0.0`,
 * `::`) for "all interfaces", and may be empty for schemes that discover
 * their peers (e.g. `udp://*:port` connects). IPv6 hosts are written in
 * brackets and stored without them.
 */
export interface Endpoint {
  readonly scheme: string;
  readonly host: string;
  readonly port: number;
  readonly path: string;
  /** The endpoint as the user wrote it. */
  readonly raw: string;
}

/** Error codes of endpoint parsing (stable). */
export const ENDPOINT_MALFORMED = "VTX_ENDPOINT_MALFORMED";
export const ENDPOINT_PORT_RANGE = "VTX_ENDPOINT_PORT_RANGE";
export const SCHEME_UNKNOWN = "VTX_SCHEME_UNKNOWN";

const SCHEME_RE = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i;

/** Splits off the scheme without validating the rest. */
export function schemeOf(endpoint: string): string {
  const m = SCHEME_RE.exec(endpoint);
  if (!m?.[1]) throw new VtxError(ENDPOINT_MALFORMED, `endpoint "${endpoint}" has no scheme (expected scheme://address)`);
  return m[1].toLowerCase();
}

/**
 * Parses `scheme://host:port[/path]`. Port `*` and `0` both mean "pick an
 * ephemeral port" on bind.
 */
export function parseEndpoint(endpoint: string): Endpoint {
  const m = SCHEME_RE.exec(endpoint);
  if (!m?.[1] || m[2] === undefined) {
    throw new VtxError(ENDPOINT_MALFORMED, `endpoint "${endpoint}" has no scheme (expected scheme://host:port)`);
  }
  const scheme = m[1].toLowerCase();
  let rest = m[2];
  let path = "";
  const slash = rest.indexOf("/", rest.startsWith("[") ? rest.indexOf("]") : 0);
  if (slash >= 0) {
    path = rest.slice(slash);
    rest = rest.slice(0, slash);
  }
  let host: string;
  let portText: string;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0 || rest[close + 1] !== ":") {
      throw new VtxError(ENDPOINT_MALFORMED, `endpoint "${endpoint}": IPv6 host must be written [addr]:port`);
    }
    host = rest.slice(1, close);
    portText = rest.slice(close + 2);
    if (!/^[0-9a-f:.%a-z]*$/i.test(host) || !host.includes(":")) {
      throw new VtxError(ENDPOINT_MALFORMED, `endpoint "${endpoint}": "${host}" is not an IPv6 address`);
    }
  } else {
    const colon = rest.lastIndexOf(":");
    if (colon < 0) throw new VtxError(ENDPOINT_MALFORMED, `endpoint "${endpoint}" has no port (expected host:port)`);
    host = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (host.includes(":")) {
      throw new VtxError(ENDPOINT_MALFORMED, `endpoint "${endpoint}": write IPv6 hosts in brackets, e.g. [::1]:5555`);
    }
    // pgm/epgm hosts are `interface;multicast-group` (zmq_pgm(7)); the interface may be omitted.
    const hostRe = scheme === "epgm" || scheme === "pgm" ? /^[a-z0-9._-]*;[0-9.]+$|^[a-z0-9.-]+$/i : /^[a-z0-9.-]+$/i;
    if (host !== "" && host !== "*" && !hostRe.test(host)) {
      throw new VtxError(ENDPOINT_MALFORMED, `endpoint "${endpoint}": "${host}" is not a host name or address`);
    }
  }
  let port: number;
  if (portText === "*") port = 0;
  else if (/^[0-9]{1,6}$/.test(portText)) port = Number(portText);
  else throw new VtxError(ENDPOINT_MALFORMED, `endpoint "${endpoint}": port "${portText}" is not a number`);
  if (port > 65535) throw new VtxError(ENDPOINT_PORT_RANGE, `endpoint "${endpoint}": port ${port} is out of range 0..65535`);
  return { scheme, host, port, path, raw: endpoint };
}

/** Formats host and port back, bracketing IPv6 hosts. */
export function formatEndpoint(scheme: string, host: string, port: number, path = ""): string {
  const h = host.includes(":") ? `[${host}]` : host;
  return `${scheme}://${h}:${port}${path}`;
}

/** True when `host` means every interface. */
export function isWildcardHost(host: string): boolean {
  return host === "*" || host === "" || host === "0.0.0.0" || host === "::";
}
