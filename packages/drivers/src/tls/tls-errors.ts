import { VtxError } from "@vtx/runtime/driver-kit";

/**
 * Stable codes for TLS failures. Node reports them with OpenSSL's verify
 * codes (`CERT_HAS_EXPIRED`), its own (`ERR_TLS_CERT_ALTNAME_INVALID`) or
 * OpenSSL alert names (`ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED`); an
 * application should not have to know which. The original code stays in
 * `detail.tlsCode` and the message.
 *
 * | code | meaning |
 * |---|---|
 * | `VTX_TLS_CERT_EXPIRED` | the peer's certificate (or one in its chain) has expired |
 * | `VTX_TLS_CERT_NOT_YET_VALID` | its validity starts in the future |
 * | `VTX_TLS_SELF_SIGNED` | self-signed certificate (or chain ending in an untrusted self-signed root) |
 * | `VTX_TLS_UNTRUSTED` | no trusted issuer (give the CA with `ca`) |
 * | `VTX_TLS_HOSTNAME` | the certificate does not name the host we dialled (or `servername`) |
 * | `VTX_TLS_NO_CLIENT_CERT` | mutual TLS: the client sent no certificate |
 * | `VTX_TLS_PEER_REFUSED_CERT` | the peer refused our certificate (alert: bad/unknown CA/expired...) |
 * | `VTX_TLS_CERT_REVOKED` | revoked certificate |
 * | `VTX_TLS_NOT_TLS` | the peer does not speak TLS (plain ZMTP, HTTP...) |
 * | `VTX_TLS_HANDSHAKE_TIMEOUT` | no complete TLS handshake in time |
 * | `VTX_TLS_HANDSHAKE` | any other handshake failure (`cause` has Node's error) |
 */
export const TLS_ERROR_CODES = [
  "VTX_TLS_CERT_EXPIRED",
  "VTX_TLS_CERT_NOT_YET_VALID",
  "VTX_TLS_SELF_SIGNED",
  "VTX_TLS_UNTRUSTED",
  "VTX_TLS_HOSTNAME",
  "VTX_TLS_NO_CLIENT_CERT",
  "VTX_TLS_PEER_REFUSED_CERT",
  "VTX_TLS_CERT_REVOKED",
  "VTX_TLS_NOT_TLS",
  "VTX_TLS_HANDSHAKE_TIMEOUT",
  "VTX_TLS_HANDSHAKE",
] as const;

export type TlsErrorCode = (typeof TLS_ERROR_CODES)[number];

const BY_NODE_CODE: Readonly<Record<string, TlsErrorCode>> = {
  CERT_HAS_EXPIRED: "VTX_TLS_CERT_EXPIRED",
  CRL_HAS_EXPIRED: "VTX_TLS_CERT_EXPIRED",
  CERT_NOT_YET_VALID: "VTX_TLS_CERT_NOT_YET_VALID",
  DEPTH_ZERO_SELF_SIGNED_CERT: "VTX_TLS_SELF_SIGNED",
  SELF_SIGNED_CERT_IN_CHAIN: "VTX_TLS_SELF_SIGNED",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "VTX_TLS_UNTRUSTED",
  UNABLE_TO_GET_ISSUER_CERT: "VTX_TLS_UNTRUSTED",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "VTX_TLS_UNTRUSTED",
  CERT_UNTRUSTED: "VTX_TLS_UNTRUSTED",
  CERT_SIGNATURE_FAILURE: "VTX_TLS_UNTRUSTED",
  CERT_REVOKED: "VTX_TLS_CERT_REVOKED",
  // A server's OpenSSL reports a client chain it cannot verify only as this.
  ERR_SSL_CERTIFICATE_VERIFY_FAILED: "VTX_TLS_UNTRUSTED",
  ERR_TLS_CERT_ALTNAME_INVALID: "VTX_TLS_HOSTNAME",
  HOSTNAME_MISMATCH: "VTX_TLS_HOSTNAME",
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: "VTX_TLS_NO_CLIENT_CERT",
  ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE: "VTX_TLS_NO_CLIENT_CERT",
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: "VTX_TLS_PEER_REFUSED_CERT",
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: "VTX_TLS_PEER_REFUSED_CERT",
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: "VTX_TLS_PEER_REFUSED_CERT",
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN: "VTX_TLS_PEER_REFUSED_CERT",
  ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR: "VTX_TLS_PEER_REFUSED_CERT",
  ERR_SSL_WRONG_VERSION_NUMBER: "VTX_TLS_NOT_TLS",
  ERR_SSL_HTTP_REQUEST: "VTX_TLS_NOT_TLS",
  ERR_SSL_PACKET_LENGTH_TOO_LONG: "VTX_TLS_NOT_TLS",
  ERR_SSL_UNSUPPORTED_PROTOCOL: "VTX_TLS_NOT_TLS",
  ERR_TLS_HANDSHAKE_TIMEOUT: "VTX_TLS_HANDSHAKE_TIMEOUT",
};

/** A Node/OpenSSL TLS error as a {@link VtxError} with one of {@link TLS_ERROR_CODES}. */
export function tlsError(err: unknown, where: string): VtxError {
  if (err instanceof VtxError) return err;
  const e = err as (Error & { code?: unknown; reason?: unknown }) | undefined;
  const nodeCode = typeof e?.code === "string" ? e.code : undefined;
  let code: TlsErrorCode = (nodeCode !== undefined ? BY_NODE_CODE[nodeCode] : undefined) ?? "VTX_TLS_HANDSHAKE";
  // OpenSSL 3 reports some alerts only by reason text.
  if (code === "VTX_TLS_HANDSHAKE" && typeof e?.message === "string") {
    if (/certificate required/i.test(e.message)) code = "VTX_TLS_NO_CLIENT_CERT";
    else if (/wrong version number|packet length too long|http request/i.test(e.message)) code = "VTX_TLS_NOT_TLS";
  }
  return new VtxError(code, `${where}: ${e?.message ?? String(err)}${nodeCode ? ` (${nodeCode})` : ""}`, {
    cause: err,
    detail: nodeCode === undefined ? {} : { tlsCode: nodeCode },
  });
}
