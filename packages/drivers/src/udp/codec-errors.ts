/**
 * Error codes of the VXU datagram protocol (docs/protocols/udp.md §8). The
 * decoder throws {@link DecodeError} with one of the `UDP_*` decode codes, the
 * byte offset where it stopped and the state (the field being read); the
 * reassembler counts dropped partial messages under the `UDP_FRAGMENT_*`
 * codes. Callers match on the code, never on the message.
 */
export { DecodeError, VtxError } from "@vtx/runtime/errors";

export const UDP_ERR = {
  /** The datagram ends inside the header, ack block, a command header or body. */
  TRUNCATED: "UDP_TRUNCATED",
  /** The first two octets are not 56 58 ("VX"): not a VXU datagram. */
  BAD_SIGNATURE: "UDP_BAD_SIGNATURE",
  /** The version octet is not 1. */
  BAD_VERSION: "UDP_BAD_VERSION",
  /** A reserved flag bit is set (datagram, frame or HELLO flags). */
  BAD_FLAGS: "UDP_BAD_FLAGS",
  /** A command type not in §2.1. */
  UNKNOWN_TYPE: "UDP_UNKNOWN_TYPE",
  /** A length disagrees with its container (see the spec's §8 table). */
  BAD_LENGTH: "UDP_BAD_LENGTH",
  /** A command that is only allowed in unreliable datagrams sits in an R datagram. */
  BAD_CLASS: "UDP_BAD_CLASS",
  /** A field out of range: socket type, beacon kind, refuse code, max-datagram, window. */
  BAD_FIELD: "UDP_BAD_FIELD",
  /** A fragment inconsistent in itself (count 0, index >= count, empty chunk, sizes). */
  BAD_FRAGMENT: "UDP_BAD_FRAGMENT",
  /** A fragment's total exceeds the receiver's max message size. */
  TOO_LARGE: "UDP_TOO_LARGE",
  /** Reassembly: no new fragment for the reassembly timeout. */
  FRAGMENT_TIMEOUT: "UDP_FRAGMENT_TIMEOUT",
  /** Reassembly: evicted to make room (per-peer in-flight or byte bound). */
  FRAGMENT_EVICTED: "UDP_FRAGMENT_EVICTED",
  /** Reassembly: a new message would exceed the shared byte budget. */
  FRAGMENT_OVER_BUDGET: "UDP_FRAGMENT_OVER_BUDGET",
  /** Reassembly: a fragment disagrees with the message's earlier fragments. */
  FRAGMENT_INCONSISTENT: "UDP_FRAGMENT_INCONSISTENT",
  /** Session: the acceptor refused our HELLO (detail carries the REFUSE code and reason). */
  REFUSED: "UDP_REFUSED",
  /** Session: nothing heard from the peer for its timeout (§3.2). */
  PEER_EXPIRED: "UDP_PEER_EXPIRED",
  /** Session: a reliable datagram exhausted its retries (§5). */
  PEER_UNREACHABLE: "UDP_PEER_UNREACHABLE",
  /** Session: the peer said BYE. */
  PEER_CLOSED: "UDP_PEER_CLOSED",
  /** Session: a HELLO with a new session tag: the peer restarted (§3). */
  PEER_RESTARTED: "UDP_PEER_RESTARTED",
  /** Session: a datagram with another session tag than the peer's (dropped). */
  STALE_SESSION: "UDP_STALE_SESSION",
  /** Session: a datagram other than HELLO-OK / REFUSE before the handshake ended (dropped). */
  NOT_READY: "UDP_NOT_READY",
  /** Encoding: a value does not fit its field (identity > 255, message > 2^32-1, ...). */
  ENCODE_RANGE: "UDP_ENCODE_RANGE",
} as const;

export type UdpErrorCode = (typeof UDP_ERR)[keyof typeof UDP_ERR];
