/**
 * Stable codes of the epgm:// driver (docs/protocols/epgm.md, "Errors").
 * The packet decoder and the payload decoder throw {@link DecodeError} with
 * one of the decode codes, the byte offset and the field; the endpoint
 * counts each dropped packet under its code and reports the counts as
 * `peer-error` events (see `readDropReport`). Callers match on the code.
 */
export { DecodeError, VtxError } from "@vtx/runtime/errors";

export const EPGM_ERR = {
  /** The packet ends inside the header, the type-specific part or an option. */
  TRUNCATED: "EPGM_TRUNCATED",
  /** The checksum does not match the packet (RFC 3208 §8). */
  BAD_CHECKSUM: "EPGM_BAD_CHECKSUM",
  /** ODATA/RDATA without a checksum (OpenPGM requires one on data). */
  NO_CHECKSUM: "EPGM_NO_CHECKSUM",
  /** A type octet that is not a PGM packet type, or a version other than 0. */
  BAD_TYPE: "EPGM_BAD_TYPE",
  /** A length disagrees with the packet: TSDU length, OPT_LENGTH's total, an option's length. */
  BAD_LENGTH: "EPGM_BAD_LENGTH",
  /** Options malformed: OPT_LENGTH missing or not first, no OPT_END, a bad OPT_FRAGMENT or OPT_NAK_LIST. */
  BAD_OPTION: "EPGM_BAD_OPTION",
  /** An NLA address family other than IPv4 (1) or IPv6 (2). */
  BAD_AFI: "EPGM_BAD_AFI",
  /** zmq_pgm(7) payload: shorter than its 2-octet offset, or an offset past the end of the data. */
  BAD_OFFSET: "EPGM_BAD_OFFSET",
  /** zmq_pgm(7) payload: a ZMTP/1.0 frame with length 0 or a length beyond 2^53. */
  BAD_FRAME: "EPGM_BAD_FRAME",
  /** A message larger than the endpoint's max message size: dropped, the stream resynchronised. */
  TOO_LARGE: "EPGM_TOO_LARGE",
  /** Fragment reassembly failed (inconsistent OPT_FRAGMENTs, or a fragment lost). */
  BAD_FRAGMENT: "EPGM_BAD_FRAGMENT",
  /** A packet for another session (ports or GSI of someone else): ignored, counted. */
  NOT_OURS: "EPGM_NOT_OURS",
  /** A packet type this side does not handle (POLL, POLR, ACK, NNAK, upstream on a receiver). */
  IGNORED_TYPE: "EPGM_IGNORED_TYPE",
  /** A data sequence number absurdly far ahead of the receive window: dropped. */
  BAD_SEQUENCE: "EPGM_BAD_SEQUENCE",
  /** Unrecoverable loss: data NAKed until retries ran out, or already gone from the source's window. */
  DATA_LOST: "EPGM_DATA_LOST",
  /** A new source beyond `maxSources`: its packets are dropped. */
  TOO_MANY_SOURCES: "EPGM_TOO_MANY_SOURCES",
  /** A value does not fit its field when encoding. */
  ENCODE_RANGE: "EPGM_ENCODE_RANGE",
} as const;

export type EpgmErrorCode = (typeof EPGM_ERR)[keyof typeof EPGM_ERR];
