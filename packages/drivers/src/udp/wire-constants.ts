/**
 * Wire constants of VXU/1, the vtx UDP datagram protocol
 * (docs/protocols/udp.md). Section numbers below refer to that spec.
 */

/** §2: every datagram starts with "VX". */
export const SIGNATURE_0 = 0x56;
export const SIGNATURE_1 = 0x58;
/** §2: the only version this code speaks. */
export const VERSION = 1;

/** §2: signature(2) version(1) flags(1) session(4) seq(4). */
export const HEADER_SIZE = 12;
/** §2: ack-next(4) ack-mask(4), present iff FLAG_ACK. */
export const ACK_BLOCK_SIZE = 8;
/**
 * Room a batcher reserves in front of the commands of every datagram it
 * builds: the header plus a possible ack block. The sealer writes the header
 * at the front (with an ack) or 8 octets in (without), so no copy is needed
 * either way.
 */
export const HEADER_ROOM = HEADER_SIZE + ACK_BLOCK_SIZE;

/** §2 flags. */
export const FLAG_RELIABLE = 0x01;
export const FLAG_ACK = 0x02;
export const FLAGS_KNOWN = FLAG_RELIABLE | FLAG_ACK;

/** §2.1: type(1) length(2). */
export const COMMAND_HEADER_SIZE = 3;
/** §2.1: a command body length is 16 bits. */
export const MAX_COMMAND_BODY = 0xffff;

/** §2.1 command types. */
export const CMD = {
  HELLO: 0x01,
  HELLO_OK: 0x02,
  REFUSE: 0x03,
  PING: 0x04,
  PONG: 0x05,
  BYE: 0x06,
  BEACON: 0x07,
  MESSAGE: 0x10,
  FRAGMENT: 0x11,
  SUBSCRIBE: 0x12,
  CANCEL: 0x13,
} as const;

/** §2.1: FRAGMENT fixed fields msg-id, index, count, total. */
export const FRAGMENT_FIELDS_SIZE = 16;
/** §2.1: HELLO fixed part before the identity octets (incl. identity length). */
export const HELLO_FIXED_SIZE = 11;
/** §2.1: HELLO flags. */
export const HELLO_FLAG_RELIABLE = 0x01;

/** §2.1 frame flags (ZMTP RFC 37 §2.3, with a 32-bit long size). */
export const FRAME_MORE = 0x01;
export const FRAME_LONG = 0x02;
/** Largest frame with a one-octet size. */
export const MAX_SHORT_FRAME = 0xff;

/** §2.1 REFUSE codes. */
export const REFUSE = {
  INCOMPATIBLE: 1,
  BUSY: 2,
  NO_SESSION: 3,
  VERSION: 4,
} as const;
export type RefuseCode = (typeof REFUSE)[keyof typeof REFUSE];

/** §7 BEACON kinds. */
export const BEACON = {
  PROBE: 0,
  OFFER: 1,
} as const;
export type BeaconKind = (typeof BEACON)[keyof typeof BEACON];

/**
 * §1: default datagram size (UDP payload, VXU header included). 1200 fits the
 * IPv6 minimum MTU (1280 − 40 − 8 = 1232) with room for tunnels, as QUIC
 * (RFC 9000 §14) chose, so datagrams are never IP-fragmented on a LAN.
 */
export const DEFAULT_MAX_DATAGRAM = 1200;
/** Smallest max-datagram a peer may announce (HELLO) or be configured with. */
export const MIN_MAX_DATAGRAM = 512;
/** Largest UDP payload over IPv4 (65535 − 20 − 8). */
export const MAX_MAX_DATAGRAM = 65507;

/** §4: default and hard bounds for one message. */
export const DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024;
export const MAX_MESSAGE = 0xffffffff;

/** §2.1: identity and reason strings are length-prefixed by one octet. */
export const MAX_SHORT_STRING = 255;
