/**
 * Error codes of @vtx/zpipes. Every error thrown by this package is a
 * {@link VtxError} (or {@link DecodeError}) carrying one of these codes;
 * callers match on the code, never on the message.
 */
export { VtxError, DecodeError, isVtxError } from "@vtx/runtime/errors";

export const ZPIPES_ERR = {
  /** The frame does not start with the signature AA A0. */
  BAD_SIGNATURE: "ZPIPES_BAD_SIGNATURE",
  /** The message id is not one of 1..21. */
  UNKNOWN_ID: "ZPIPES_UNKNOWN_ID",
  /** The frame ends inside a field (includes the empty frame). */
  TRUNCATED: "ZPIPES_TRUNCATED",
  /** A chunk is longer than the decoder's MAX_CHUNK bound. */
  CHUNK_TOO_LONG: "ZPIPES_CHUNK_TOO_LONG",
  /** Encoding: a string field is longer than 255 octets. */
  STRING_TOO_LONG: "ZPIPES_STRING_TOO_LONG",
  /** Encoding: a number field is not an unsigned 32-bit integer. */
  BAD_NUMBER: "ZPIPES_BAD_NUMBER",
  /** Client: no broker answered within the connect timeout. */
  NO_BROKER: "ZPIPES_NO_BROKER",
  /** Client: READ_TIMEOUT / WRITE_TIMEOUT (the original's EAGAIN). */
  TIMEOUT: "ZPIPES_TIMEOUT",
  /** Client: *_FAILED from the broker (the original's EINTR). */
  FAILED: "ZPIPES_FAILED",
  /** Client: INVALID from the broker (the original's EBADF). */
  INVALID: "ZPIPES_INVALID",
  /** Client: the call was made on a closed client or in the wrong mode. */
  CLOSED: "ZPIPES_CLOSED",
  /** Client: the broker sent a reply that does not fit the call. */
  PROTOCOL: "ZPIPES_PROTOCOL",
  /** Broker: the endpoint could not be bound. */
  BIND_FAILED: "ZPIPES_BIND_FAILED",
} as const;

export type ZpipesErrorCode = (typeof ZPIPES_ERR)[keyof typeof ZPIPES_ERR];
