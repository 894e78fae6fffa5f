/**
 * PGM wire constants (RFC 3208) as OpenPGM puts them on the wire inside UDP
 * (docs/protocols/epgm.md). Names follow the RFC.
 */

/** §8: packet types (the low nibble of the type octet; the high nibble is the version, 0). */
export const PGM_TYPE = {
  SPM: 0x00,
  POLL: 0x01,
  POLR: 0x02,
  ODATA: 0x04,
  RDATA: 0x05,
  NAK: 0x08,
  NNAK: 0x09,
  NCF: 0x0a,
  SPMR: 0x0c,
  /** PGMCC congestion-control ACK (not RFC 3208; OpenPGM): recognised, ignored. */
  ACK: 0x0d,
} as const;

/** §8: bits of the header's Options octet. */
export const OPT_FLAG = {
  PRESENT: 0x01,
  NETWORK: 0x02,
  VAR_PKTLEN: 0x40,
  PARITY: 0x80,
} as const;

/** §9: option types (low 7 bits of the option's first octet). */
export const OPT = {
  LENGTH: 0x00,
  FRAGMENT: 0x01,
  NAK_LIST: 0x02,
  JOIN: 0x03,
  SYN: 0x0d,
  FIN: 0x0e,
  RST: 0x0f,
} as const;

/** §9: set on the last option's type octet. */
export const OPT_END = 0x80;

/** RFC 1700 address family numbers used in NLA fields. */
export const AFI_IP = 1;
export const AFI_IP6 = 2;

/** §8: sport, dport, type, options, checksum, GSI (6), TSDU length. */
export const HEADER_SIZE = 16;
/** GSI octets. */
export const GSI_SIZE = 6;
/** §8.1 SPM body with an IPv4 NLA: sqn, trail, lead, AFI, reserved, NLA. */
export const SPM_BODY_SIZE = 20;
/** §8.1 SPM body with an IPv6 NLA. */
export const SPM6_BODY_SIZE = 32;
/** §8.2 data body before options: data sqn, trail. */
export const DATA_BODY_SIZE = 8;
/** §8.3 NAK/NCF body with IPv4 NLAs: sqn, src AFI+res, src NLA, grp AFI+res, grp NLA. */
export const NAK_BODY_SIZE = 20;
/** §8.3 with IPv6 NLAs. */
export const NAK6_BODY_SIZE = 44;
/** §9.1 OPT_LENGTH is 4 octets. */
export const OPT_LENGTH_SIZE = 4;
/** §9.3 OPT_FRAGMENT: type, length, OPX/U, reserved, first sqn, offset, APDU length. */
export const OPT_FRAGMENT_SIZE = 16;
/** §9.3.5: OPT_NAK_LIST carries 1..62 more sequence numbers. */
export const MAX_NAK_LIST = 62;

/**
 * zmq_pgm(7): each APDU's payload starts with the 16-bit offset of the first
 * message that begins in it, or this when none does.
 */
export const NO_MESSAGE_START = 0xffff;
/** The offset field's size. */
export const PAYLOAD_OFFSET_SIZE = 2;

/**
 * libzmq's ZMQ_MULTICAST_MAXTPDU default: 1500 octets including the IPv4
 * (20) and UDP (8) headers, so a PGM packet is at most 1472 octets.
 */
export const DEFAULT_MAX_TPDU = 1500;
export const IPV4_UDP_OVERHEAD = 28;

/** Largest APDU accepted when reassembling OPT_FRAGMENTs (OpenPGM's PGM_MAX_APDU). */
export const MAX_APDU = 0xffff;
