import { VtxError } from "@vtx/runtime/driver-kit";
import type { LinkOptions } from "@vtx/runtime/driver-kit";
import { ZWS_ERR } from "./codes.js";
import type { LocalMechanism } from "./subprotocol.js";

/** PEM text, or its bytes (a Buffer arrives as Uint8Array through a worker, or as `{type:"Buffer",data}` through JSON). */
export type Pem = string | Uint8Array;

/**
 * Options of the ws:// and wss:// drivers, given to `ws(options)` /
 * `wss(options)` for every endpoint, or per endpoint as
 * `vtx.bind(s, ep, { driver: {...} })` (per-endpoint wins). Plain data:
 * they travel to the driver's worker.
 */
export interface WsDriverOptions {
  /** wss bind: the server's private key (PEM), as node:tls `key`. */
  key?: Pem | undefined;
  /** wss bind: the server's certificate chain (PEM), as node:tls `cert`. A client certificate on wss connect. */
  cert?: Pem | undefined;
  /** wss connect: CAs to trust instead of the system's (PEM), as node:tls `ca`. */
  ca?: Pem | Pem[] | undefined;
  /** wss connect: the name to check the server's certificate against (and send as SNI); default the endpoint's host. */
  servername?: string | undefined;
  /**
   * wss connect: refuse a server whose certificate does not verify. Default
   * true. On a bind it only matters with `requestCert`.
   */
  rejectUnauthorized?: boolean | undefined;
  /** wss bind: ask clients for a certificate (mutual TLS); with `rejectUnauthorized` a client without a valid one is refused. */
  requestCert?: boolean | undefined;
  /** Passphrase of an encrypted `key`. */
  passphrase?: string | undefined;
  /** Lowest TLS version accepted, default Node's ("TLSv1.2"). */
  minVersion?: "TLSv1.2" | "TLSv1.3" | undefined;
  /** OpenSSL cipher list, default Node's. */
  ciphers?: string | undefined;
  /** Connect through an HTTP proxy with CONNECT: `http://[user:pass@]host:port`. */
  proxy?: string | undefined;
}

/** The TLS material a wss endpoint hands to node:tls, normalised to strings and Buffers. */
export interface TlsMaterial {
  key?: string | Buffer;
  cert?: string | Buffer;
  ca?: Array<string | Buffer>;
  passphrase?: string;
  minVersion?: "TLSv1.2" | "TLSv1.3";
  ciphers?: string;
  servername?: string;
  rejectUnauthorized: boolean;
  requestCert: boolean;
}

function pem(value: unknown, name: string): string | Buffer {
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  // A Buffer that went through JSON.stringify (the mailbox codec).
  const json = value as { type?: unknown; data?: unknown } | null;
  if (json !== null && typeof json === "object" && json.type === "Buffer" && Array.isArray(json.data)) {
    return Buffer.from(json.data as number[]);
  }
  throw new VtxError(ZWS_ERR.BAD_OPTION, `ws driver option ${name} must be PEM text or bytes`);
}

/** Factory options overlaid with the endpoint's `driver` options, checked. */
export function resolveOptions(base: unknown, perEndpoint: Record<string, unknown> | undefined): WsDriverOptions {
  const merged: Record<string, unknown> = { ...((base ?? {}) as Record<string, unknown>), ...(perEndpoint ?? {}) };
  const proxy = merged.proxy;
  if (proxy !== undefined && typeof proxy !== "string") throw new VtxError(ZWS_ERR.BAD_OPTION, "ws driver option proxy must be a URL string");
  const servername = merged.servername;
  if (servername !== undefined && typeof servername !== "string") throw new VtxError(ZWS_ERR.BAD_OPTION, "ws driver option servername must be a string");
  for (const k of ["rejectUnauthorized", "requestCert"]) {
    if (merged[k] !== undefined && typeof merged[k] !== "boolean") throw new VtxError(ZWS_ERR.BAD_OPTION, `ws driver option ${k} must be a boolean`);
  }
  for (const k of ["passphrase", "ciphers"]) {
    if (merged[k] !== undefined && typeof merged[k] !== "string") throw new VtxError(ZWS_ERR.BAD_OPTION, `ws driver option ${k} must be a string`);
  }
  if (merged.minVersion !== undefined && merged.minVersion !== "TLSv1.2" && merged.minVersion !== "TLSv1.3") {
    throw new VtxError(ZWS_ERR.BAD_OPTION, 'ws driver option minVersion must be "TLSv1.2" or "TLSv1.3"');
  }
  return merged;
}

/** node:tls options for a wss endpoint. */
export function tlsMaterial(o: WsDriverOptions): TlsMaterial {
  const out: TlsMaterial = { rejectUnauthorized: o.rejectUnauthorized !== false, requestCert: o.requestCert === true };
  if (o.passphrase !== undefined) out.passphrase = o.passphrase;
  if (o.minVersion !== undefined) out.minVersion = o.minVersion;
  if (o.ciphers !== undefined) out.ciphers = o.ciphers;
  if (o.key !== undefined) out.key = pem(o.key, "key");
  if (o.cert !== undefined) out.cert = pem(o.cert, "cert");
  if (o.ca !== undefined) out.ca = (Array.isArray(o.ca) ? o.ca : [o.ca]).map((c, i) => pem(c, `ca[${i}]`));
  if (o.servername !== undefined) out.servername = o.servername;
  return out;
}

/**
 * The mechanism a link runs, decided from the socket's options exactly as
 * the runtime's ZMTP links decide it: PLAIN server (`plainServer`, on a
 * bind or a connect), PLAIN client (`plainUsername`), otherwise NULL.
 * CURVE is refused: RFC 45 has no CURVE subprotocol, and libzmq's
 * "ZWS2.0/CURVE" would carry heartbeats inside CURVE boxes, where they
 * cannot become WebSocket pings.
 */
export function localMechanism(o: LinkOptions): { mechanism: LocalMechanism; plainServer: boolean } {
  if (o.curveServer === true || o.curveServerKey !== undefined) {
    throw new VtxError(ZWS_ERR.BAD_OPTION, "CURVE is not available over ws:// / wss:// (use wss:// for encryption, PLAIN for credentials)");
  }
  if (o.plainServer === true) return { mechanism: "PLAIN", plainServer: true };
  if (o.plainUsername !== undefined) return { mechanism: "PLAIN", plainServer: false };
  return { mechanism: "NULL", plainServer: false };
}

/**
 * The WebSocket message bound for a link: one ZWS frame is one message of
 * flag byte + body, and a ZMTP message bound caps every frame (the engine
 * checks the multipart total). Unlimited links get the engine's default.
 */
export function maxPayload(o: LinkOptions): number {
  return (o.maxMessageSize >= 0 ? o.maxMessageSize : 256 * 1024 * 1024) + 1;
}
