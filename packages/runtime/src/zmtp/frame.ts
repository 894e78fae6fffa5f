/**
 * ZMTP 3.x frame layout (RFC 37 §"Framing"):
 *
 *   frame = flags size body
 *   flags: bit 0 MORE, bit 1 LONG (8-byte size), bit 2 COMMAND, bits 7-3 reserved (zero)
 *   size:  1 octet, or 8 octets network order when LONG is set
 */

export const FLAG_MORE = 0x01;
export const FLAG_LONG = 0x02;
export const FLAG_COMMAND = 0x04;
/** Bits 7-3 are reserved and MUST be zero (RFC 37 §"Framing"). */
export const FLAG_RESERVED_MASK = 0xf8;

/** Largest body a short frame can carry. */
export const MAX_SHORT_FRAME_SIZE = 255;

/**
 * Default bound on a whole multipart message (all its frame bodies). libzmq's
 * default is unbounded; ours is finite so a peer cannot make us allocate an
 * arbitrary amount. Raise it with the engine's `maxMessageSize` option.
 */
export const DEFAULT_MAX_MESSAGE_SIZE = 256 * 1024 * 1024;

/**
 * Bound on one command frame before the handshake completes (READY, HELLO,
 * INITIATE...). An unauthenticated peer can make us buffer at most this much.
 */
export const MAX_HANDSHAKE_COMMAND_SIZE = 64 * 1024;

/**
 * After the handshake commands may wrap whole frames (CURVE MESSAGE), so
 * their bound is the message bound plus this much envelope.
 */
export const COMMAND_ENVELOPE_ALLOWANCE = 1024;
