/**
 * The NaCl primitives CURVE is built on (RFC 26 §"Cryptographic Notation"),
 * on audited libraries: X25519 from @noble/curves, HSalsa20 and
 * XSalsa20-Poly1305 from @noble/ciphers (or libsodium's, once its WASM has
 * loaded). Nothing here is a primitive of our
 * own; this file only composes them the way NaCl's `crypto_box` does:
 *
 *   crypto_box_beforenm(pk, sk) = HSalsa20(key = X25519(sk, pk), input = 0¹⁶)
 *   crypto_box_afternm(m, n, k) = XSalsa20-Poly1305(k, n)(m)   → MAC(16) ‖ ciphertext
 *
 * Boxes here are in the "easy" layout (MAC first, no zero padding), which is
 * what CURVE commands carry on the wire (NaCl's box minus BOXZEROBYTES).
 */
import { hsalsa, xsalsa20poly1305 } from "@noble/ciphers/salsa.js";
import { x25519 } from "@noble/curves/ed25519.js";
import sodium from "libsodium-wrappers";
import { randomBytes } from "node:crypto";

/**
 * libsodium (WASM) computes the same XSalsa20-Poly1305 boxes 2-4× faster
 * than pure JS on this machine (per-message cost dominates CURVE), but it
 * initialises asynchronously. It is loaded in the background when this
 * module is imported; until it is ready (or if it cannot load) the @noble
 * implementation is used. Both give identical bytes (cross-checked in the
 * tests), so a box sealed by one opens with the other.
 */
let accelerated: typeof sodium | undefined;
let sodiumLoaded = false;
const sodiumReady: Promise<boolean> = sodium.ready.then(
  () => {
    sodiumLoaded = true;
    accelerated = sodium;
    return true;
  },
  () => false,
);

/** Resolves once libsodium is in use (false if it could not load). For tests and benchmarks. */
export function curveAccelerated(): Promise<boolean> {
  return sodiumReady;
}

/** Test hook (after {@link curveAccelerated}): force the pure-JS path (false) or libsodium (true). */
export function useCurveAcceleration(on: boolean): void {
  accelerated = on && sodiumLoaded ? sodium : undefined;
}

export const KEY_BYTES = 32;
export const NONCE_BYTES = 24;
export const MAC_BYTES = 16;

// "expand 32-byte k" as little-endian words: the Salsa20 constant HSalsa20 uses for crypto_box.
const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
const ZERO_NONCE_WORDS = new Uint32Array(4);

function words(bytes: Uint8Array): Uint32Array {
  const w = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < w.length; i++) {
    w[i] = (bytes[i * 4]! | (bytes[i * 4 + 1]! << 8) | (bytes[i * 4 + 2]! << 16) | (bytes[i * 4 + 3]! << 24)) >>> 0;
  }
  return w;
}

function wordBytes(w: Uint32Array): Uint8Array {
  const out = new Uint8Array(w.length * 4);
  for (let i = 0; i < w.length; i++) {
    const v = w[i]!;
    out[i * 4] = v & 0xff;
    out[i * 4 + 1] = (v >>> 8) & 0xff;
    out[i * 4 + 2] = (v >>> 16) & 0xff;
    out[i * 4 + 3] = v >>> 24;
  }
  return out;
}

/** A fresh key pair (transient keys, tests). */
export function curveKeyPairBytes(): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const secretKey = x25519.utils.randomSecretKey();
  return { publicKey: x25519.getPublicKey(secretKey), secretKey };
}

export function curvePublicKeyOf(secretKey: Uint8Array): Uint8Array {
  return x25519.getPublicKey(secretKey);
}

/**
 * NaCl `crypto_box_beforenm`: the shared key for boxes between `secretKey`'s
 * owner and `publicKey`'s. Returns undefined for a public key that yields an
 * all-zero secret (a low-order point), which a peer can only send on purpose.
 */
export function boxBeforeNm(publicKey: Uint8Array, secretKey: Uint8Array): Uint8Array | undefined {
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(secretKey, publicKey);
  } catch {
    return undefined;
  }
  const out = new Uint32Array(8);
  // Salsa20 reads its key as little-endian words (checked against NaCl's beforenm vector in the tests).
  hsalsa(SIGMA, words(shared), ZERO_NONCE_WORDS, out);
  return wordBytes(out);
}

/** `crypto_box_afternm` in the easy layout: MAC ‖ ciphertext. */
export function boxSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const fast = accelerated;
  if (fast !== undefined) return fast.crypto_box_easy_afternm(plaintext, nonce, key);
  return xsalsa20poly1305(key, nonce).encrypt(plaintext);
}

/**
 * Seals `plaintext` into `out`, which must be `plaintext.length + 32` bytes:
 * the box (MAC ‖ ciphertext) lands at `out[16..]`, leaving `out[0..16]` for
 * the caller's 16-byte header (a CURVE MESSAGE's name and short nonce), so a
 * whole command is built without another copy.
 */
export function boxSealWithHeadroom(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, out: Uint8Array): void {
  const fast = accelerated;
  if (fast !== undefined) {
    out.set(fast.crypto_box_easy_afternm(plaintext, nonce, key), 16);
    return;
  }
  xsalsa20poly1305(key, nonce).encrypt(plaintext, out);
}

/** `crypto_box_open_afternm`: the plaintext, or undefined when the MAC does not verify. */
export function boxOpen(key: Uint8Array, nonce: Uint8Array, box: Uint8Array): Uint8Array | undefined {
  if (box.length < MAC_BYTES) return undefined;
  try {
    const fast = accelerated;
    return fast !== undefined ? fast.crypto_box_open_easy_afternm(box, nonce, key) : xsalsa20poly1305(key, nonce).decrypt(box);
  } catch {
    return undefined;
  }
}

/** `crypto_box`: one-shot seal from `secretKey`'s owner to `publicKey`'s. */
export function box(publicKey: Uint8Array, secretKey: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Uint8Array | undefined {
  const k = boxBeforeNm(publicKey, secretKey);
  return k === undefined ? undefined : boxSeal(k, nonce, plaintext);
}

/** `crypto_box_open`: one-shot open; undefined on a bad key or MAC. */
export function boxOpenFrom(publicKey: Uint8Array, secretKey: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
  const k = boxBeforeNm(publicKey, secretKey);
  return k === undefined ? undefined : boxOpen(k, nonce, sealed);
}

export function random(n: number): Buffer {
  return randomBytes(n);
}

/** A 24-byte nonce: an ASCII prefix followed by `tail` (8 or 16 bytes). */
export function nonceOf(prefix: string, tail: Uint8Array): Uint8Array {
  const n = new Uint8Array(NONCE_BYTES);
  for (let i = 0; i < prefix.length; i++) n[i] = prefix.charCodeAt(i);
  n.set(tail, prefix.length);
  return n;
}
