import { VtxError } from "@vtx/runtime/driver-kit";

/**
 * Options of the `tls://` driver. They mirror node:tls and are plain,
 * serialisable data (PEM strings), because a driver spec crosses into a
 * worker thread. Given to `tls({...})` for every endpoint, and/or per
 * endpoint as `vtx.bind(s, ep, { driver: {...} })` (those win).
 */
export interface TlsOptions {
  /** PEM private key: required to bind; for a client, its certificate key for mutual TLS. */
  key?: string;
  /** PEM certificate chain matching `key`. */
  cert?: string;
  /** Passphrase of an encrypted `key`. */
  passphrase?: string;
  /** PEM CA certificate(s) to trust instead of the system's (a private CA, or a self-signed peer to pin). */
  ca?: string | string[];
  /** Name to check the server certificate against and to send as SNI (default: the endpoint's host). */
  servername?: string;
  /**
   * Refuse peers whose certificate does not verify. Default true. On a bind
   * it only matters with `requestCert`.
   */
  rejectUnauthorized?: boolean;
  /** Bind side: ask clients for a certificate (mutual TLS); with `rejectUnauthorized` a client without a valid one is refused. */
  requestCert?: boolean;
  /** Connect side: tunnel through an HTTP proxy with CONNECT, `http://[user:pass@]host:port`. */
  proxy?: string;
  /** Lowest TLS version accepted, default Node's ("TLSv1.2"). */
  minVersion?: "TLSv1.2" | "TLSv1.3";
  /** OpenSSL cipher list, default Node's. */
  ciphers?: string;
}

const STRING_KEYS = ["key", "cert", "passphrase", "servername", "proxy", "minVersion", "ciphers"] as const;
const BOOLEAN_KEYS = ["rejectUnauthorized", "requestCert"] as const;

/** Merges spec options with per-endpoint ones and checks their types. Throws `VTX_TLS_OPTIONS`. */
export function resolveTlsOptions(...layers: unknown[]): TlsOptions {
  const out: Record<string, unknown> = {};
  for (const layer of layers) {
    if (layer === undefined || layer === null) continue;
    if (typeof layer !== "object") throw new VtxError("VTX_TLS_OPTIONS", "tls options must be an object");
    for (const [k, v] of Object.entries(layer)) if (v !== undefined) out[k] = v;
  }
  for (const k of STRING_KEYS) {
    if (out[k] !== undefined && typeof out[k] !== "string") throw new VtxError("VTX_TLS_OPTIONS", `tls option ${k} must be a string`);
  }
  for (const k of BOOLEAN_KEYS) {
    if (out[k] !== undefined && typeof out[k] !== "boolean") throw new VtxError("VTX_TLS_OPTIONS", `tls option ${k} must be a boolean`);
  }
  const ca = out.ca;
  if (ca !== undefined && typeof ca !== "string" && !(Array.isArray(ca) && ca.every((c) => typeof c === "string"))) {
    throw new VtxError("VTX_TLS_OPTIONS", "tls option ca must be a PEM string or an array of them");
  }
  return out;
}
