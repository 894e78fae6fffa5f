/**
 * Wire constants of ZPIPES (seed 002 ABNF; docs/zpipes.md).
 *
 * One ZPIPES message is exactly one ØMQ frame: the two-octet signature
 * AA A0, a one-octet message id, then the fields in ABNF order.
 */

/** `signature = %xAA %xA0` */
export const SIGNATURE_0 = 0xaa;
export const SIGNATURE_1 = 0xa0;

/** Message ids, `%d1` .. `%d21` in the ABNF. */
export const MSG = {
  INPUT: 1,
  INPUT_OK: 2,
  INPUT_FAILED: 3,
  OUTPUT: 4,
  OUTPUT_OK: 5,
  OUTPUT_FAILED: 6,
  READ: 7,
  READ_OK: 8,
  READ_END: 9,
  READ_TIMEOUT: 10,
  READ_FAILED: 11,
  WRITE: 12,
  WRITE_OK: 13,
  WRITE_TIMEOUT: 14,
  WRITE_FAILED: 15,
  CLOSE: 16,
  CLOSE_OK: 17,
  CLOSE_FAILED: 18,
  PING: 19,
  PING_OK: 20,
  INVALID: 21,
} as const;

export type MessageType = keyof typeof MSG;

export const MESSAGE_NAMES: readonly (MessageType | undefined)[] = (() => {
  const names: (MessageType | undefined)[] = [];
  for (const [name, id] of Object.entries(MSG)) names[id] = name as MessageType;
  return names;
})();

/** Header: signature (2) + id (1). */
export const HEADER_SIZE = 3;
/** A chunk's data starts after header + 4-octet length (WRITE and READ_OK alike). */
export const CHUNK_DATA_OFFSET = HEADER_SIZE + 4;
/** `string = number-1 *VCHAR`: a string carries at most 255 octets. */
export const MAX_STRING = 255;
/**
 * Default bound on a chunk's length. The ABNF allows 2^32-1; a broker that
 * believed that would let one client make it hold 4 GiB. Readers ask for at
 * most this much in one READ too.
 */
export const MAX_CHUNK = 8 * 1024 * 1024;
/** Largest `number-4`. */
export const MAX_NUMBER4 = 0xffffffff;
