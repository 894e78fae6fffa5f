/**
 * Z85 (ZeroMQ RFC 32): the printable encoding of CURVE keys that libzmq,
 * zeromq.js (`zmq.curveKeyPair()`) and every ØMQ tool use. Four bytes
 * become five characters, big-endian base 85; lengths must be multiples of
 * 4 (bytes) and 5 (characters), so a 32-byte key is 40 characters.
 */

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** Encodes bytes (length a multiple of 4) as Z85. Throws TypeError otherwise. */
export function z85Encode(bytes: Uint8Array): string {
  if (bytes.length % 4 !== 0) throw new TypeError(`Z85 encodes multiples of 4 bytes, got ${bytes.length}`);
  let out = "";
  for (let i = 0; i < bytes.length; i += 4) {
    // >>> 0 keeps the 32-bit value unsigned.
    let value = ((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) >>> 0;
    const chunk: string[] = [];
    for (let j = 0; j < 5; j++) {
      chunk.push(ALPHABET[value % 85]!);
      value = Math.floor(value / 85);
    }
    out += chunk.reverse().join("");
  }
  return out;
}

/** Decodes Z85 text (length a multiple of 5). Throws TypeError on a bad length, character or overflow. */
export function z85Decode(text: string): Buffer {
  if (text.length % 5 !== 0) throw new TypeError(`Z85 text length must be a multiple of 5, got ${text.length}`);
  const out = Buffer.allocUnsafe((text.length / 5) * 4);
  for (let i = 0, o = 0; i < text.length; i += 5, o += 4) {
    let value = 0;
    for (let j = 0; j < 5; j++) {
      const code = text.charCodeAt(i + j);
      const digit = code < 128 ? DECODE[code]! : -1;
      if (digit < 0) throw new TypeError(`invalid Z85 character at ${i + j}`);
      value = value * 85 + digit;
    }
    if (value > 0xffffffff) throw new TypeError(`Z85 group at ${i} overflows 32 bits`);
    out.writeUInt32BE(value, o);
  }
  return out;
}
