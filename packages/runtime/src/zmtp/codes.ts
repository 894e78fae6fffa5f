/**
 * Stable error codes of the ZMTP engine. Callers and tests match on these,
 * never on messages. The table with meanings lives at the top of engine.ts
 * and in docs/protocols/zmtp.md.
 */
export const ZMTP_ERROR_CODES = [
  "ZMTP_BAD_SIGNATURE",
  "ZMTP_UNSUPPORTED_VERSION",
  "ZMTP_MECHANISM_MISMATCH",
  "ZMTP_MALFORMED_FRAME",
  "ZMTP_MALFORMED_COMMAND",
  "ZMTP_MALFORMED_METADATA",
  "ZMTP_MESSAGE_TOO_LARGE",
  "ZMTP_INCOMPATIBLE_SOCKET_TYPE",
  "ZMTP_AUTH_FAILED",
  "ZMTP_UNEXPECTED_COMMAND",
  "ZMTP_UNEXPECTED_MESSAGE",
  "ZMTP_PEER_ERROR",
  "ZMTP_TRUNCATED",
  "ZMTP_NOT_READY",
  "ZMTP_INVALID_OPTION",
  // CURVE (curve-mechanism.ts): a box that does not open or a cookie/vouch mismatch;
  // a replayed MESSAGE nonce; the server hung up after our HELLO.
  "ZMTP_CURVE_CRYPTO",
  "ZMTP_CURVE_NONCE",
  "ZMTP_CURVE_REJECTED",
] as const;

export type ZmtpErrorCode = (typeof ZMTP_ERROR_CODES)[number];
