/**
 * The ZMTP 3.x greeting (RFC 37 §"The Greeting"), 64 octets:
 *
 *   signature  10 octets  %xFF padding(8) %x7F
 *   version     2 octets  major %x03, minor %x01 (3.0 peers send %x00)
 *   mechanism  20 octets  ASCII name, NUL padded
 *   as-server   1 octet   %x00 / %x01
 *   filler     31 octets  %x00
 *
 * libzmq sends the greeting in pieces: the 10-byte signature, then the major
 * version once it has seen the peer's signature, then the rest (that is how
 * it detects ZMTP 1.0/2.0 peers). The decoder therefore takes bytes in any
 * split and checks every field as soon as it arrives, so an old or foreign
 * peer is refused after its first bytes instead of after a timeout.
 * libzmq puts the routing-id length + 1 into the 8 padding octets; the RFC
 * lets padding be anything, so it is not checked.
 */
import { DecodeError } from "../errors.js";

export const GREETING_SIZE = 64;
export const SIGNATURE_SIZE = 10;
export const MECHANISM_OFFSET = 12;
export const MECHANISM_FIELD_SIZE = 20;
export const AS_SERVER_OFFSET = 32;
/** The version we speak. */
export const ZMTP_MAJOR = 3;
export const ZMTP_MINOR = 1;

export interface Greeting {
  readonly major: number;
  readonly minor: number;
  /** Mechanism name without the NUL padding, e.g. "NULL", "PLAIN", "CURVE". */
  readonly mechanism: string;
  readonly asServer: boolean;
  /**
   * The 8 signature padding octets. libzmq writes its routing-id length + 1
   * (a ZMTP 1.0 leftover) into the last one, so a non-zero byte 7 hints at
   * libzmq; used only to pick libzmq-compatible quirks.
   */
  readonly padding: Buffer;
}

/** True when the greeting's padding looks like libzmq's (last octet = routing-id length + 1 >= 1). */
export function looksLikeLibzmq(greeting: Greeting): boolean {
  return greeting.padding[7] !== 0;
}

// RFC 37: mechanism = 20mechanism-char; mechanism-char = "A"-"Z" / DIGIT / "-" / "_" / "." / "+" / %x0
function isMechanismChar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f || c === 0x2e || c === 0x2b;
}

/** Validates a mechanism name for the greeting; returns an error message or undefined. */
export function checkMechanismName(name: string): string | undefined {
  if (name.length === 0 || name.length > MECHANISM_FIELD_SIZE) return `mechanism name must be 1..${MECHANISM_FIELD_SIZE} characters`;
  for (let i = 0; i < name.length; i++) {
    if (!isMechanismChar(name.charCodeAt(i))) return `mechanism name has an invalid character at ${i}`;
  }
  return undefined;
}

/** Encodes our 64-byte greeting. `minor` is only overridden by tests that play a 3.0 peer. */
export function encodeGreeting(options: { mechanism: string; asServer: boolean; minor?: number }): Buffer {
  const bad = checkMechanismName(options.mechanism);
  if (bad !== undefined) throw new TypeError(bad);
  const out = Buffer.alloc(GREETING_SIZE); // zero padding and filler
  out[0] = 0xff;
  out[9] = 0x7f;
  out[10] = ZMTP_MAJOR;
  out[11] = options.minor ?? ZMTP_MINOR;
  out.write(options.mechanism, MECHANISM_OFFSET, "latin1");
  out[AS_SERVER_OFFSET] = options.asServer ? 1 : 0;
  return out;
}

/** Push decoder for the peer's greeting. Throws {@link DecodeError} on bad input. */
export class GreetingDecoder {
  readonly #buf = Buffer.alloc(GREETING_SIZE);
  #have = 0;
  #greeting: Greeting | undefined;

  /** Bytes received so far (0..64). */
  get received(): number {
    return this.#have;
  }

  get done(): boolean {
    return this.#greeting !== undefined;
  }

  /** The decoded greeting once all 64 bytes arrived. */
  get greeting(): Greeting | undefined {
    return this.#greeting;
  }

  /**
   * Feeds `chunk[start..]`. Returns how many bytes were consumed: fewer than
   * offered only when the greeting completed inside the chunk (the rest is
   * frames).
   */
  push(chunk: Uint8Array, start = 0): number {
    if (this.#greeting !== undefined) return 0;
    const take = Math.min(GREETING_SIZE - this.#have, chunk.length - start);
    for (let i = 0; i < take; i++) {
      const at = this.#have;
      const c = chunk[start + i]!;
      this.#buf[at] = c;
      this.#have = at + 1;
      this.#check(at, c);
    }
    if (this.#have === GREETING_SIZE) this.#finish();
    return take;
  }

  #check(at: number, c: number): void {
    if (at === 0 && c !== 0xff) {
      throw new DecodeError("ZMTP_BAD_SIGNATURE", "greeting does not start with 0xFF (not a ZMTP 3 peer)", at, "signature");
    }
    if (at === SIGNATURE_SIZE - 1 && c !== 0x7f) {
      throw new DecodeError("ZMTP_BAD_SIGNATURE", "greeting signature does not end with 0x7F (ZMTP 1.0 peer?)", at, "signature");
    }
    // RFC 37 §"Version Negotiation": a peer MUST accept versions >= 3.0; older
    // ones (ZMTP 2.0 sends major 1) we do not speak.
    if (at === SIGNATURE_SIZE && c < ZMTP_MAJOR) {
      throw new DecodeError("ZMTP_UNSUPPORTED_VERSION", `peer speaks ZMTP major version ${c}, need 3`, at, "version");
    }
  }

  #finish(): void {
    const b = this.#buf;
    let end = MECHANISM_OFFSET;
    const limit = MECHANISM_OFFSET + MECHANISM_FIELD_SIZE;
    while (end < limit && b[end] !== 0) {
      if (!isMechanismChar(b[end]!)) {
        throw new DecodeError("ZMTP_MECHANISM_MISMATCH", "greeting mechanism name has an invalid character", end, "mechanism");
      }
      end++;
    }
    for (let i = end; i < limit; i++) {
      if (b[i] !== 0) throw new DecodeError("ZMTP_MECHANISM_MISMATCH", "greeting mechanism name is not NUL padded", i, "mechanism");
    }
    if (end === MECHANISM_OFFSET) throw new DecodeError("ZMTP_MECHANISM_MISMATCH", "greeting mechanism name is empty", end, "mechanism");
    this.#greeting = {
      major: b[10]!,
      minor: b[11]!,
      mechanism: b.toString("latin1", MECHANISM_OFFSET, end),
      asServer: b[AS_SERVER_OFFSET] !== 0,
      padding: Buffer.from(b.subarray(1, 9)),
    };
  }
}
