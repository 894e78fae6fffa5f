/**
 * The CURVE mechanism: ZMTP-CURVE (ZeroMQ RFC 25) running CurveZMQ
 * (RFC 26), byte-compatible with libzmq 4.x.
 *
 *   C: HELLO    version(1.0) padding(72) C' short-nonce Box[0⁶⁴](C'→S)
 *   S: WELCOME  long-nonce Box[S' ‖ cookie](S→C')        cookie = nonce ‖ SecretBox[C' ‖ s'](K)
 *   C: INITIATE cookie short-nonce Box[C ‖ vouch ‖ metadata](C'→S')   vouch = nonce ‖ Box[C' ‖ S](C→S')
 *   S: READY    short-nonce Box[metadata](S'→C')          (or ERROR "400" when the client key is refused)
 *   then every frame: MESSAGE short-nonce Box[flags ‖ body](C'→S' / S'→C')
 *
 * Nonces are a 16-byte ASCII prefix plus an 8-byte big-endian counter
 * ("short"), or an 8-byte prefix plus 16 random bytes ("long"). The
 * prefixes are RFC 26's, with libzmq's for MESSAGE (`CurveZMQMESSAGEC` from
 * the client, `CurveZMQMESSAGES` from the server). Counters start at 1
 * (client: HELLO 1, INITIATE 2, MESSAGEs from 3; server: READY 1, MESSAGEs
 * from 2) and a MESSAGE whose counter does not exceed the last one seen is
 * refused (replay). Like libzmq, MESSAGE travels in ordinary message frames
 * (no COMMAND flag); the carried frame's MORE and COMMAND bits are the flags
 * octet inside the box (bit 0 MORE, bit 1 COMMAND, libzmq's layout).
 *
 * Failures: a box that does not open, a cookie or vouch that does not
 * match → `ZMTP_CURVE_CRYPTO` (a server closes without ERROR, as libzmq
 * does, so the client learns nothing); a replayed MESSAGE counter →
 * `ZMTP_CURVE_NONCE`; a client whose server closed the connection after
 * HELLO (wrong server key, or not a CURVE server) or after INITIATE (libzmq
 * drops a client silently when its vouch names another server public key)
 * → `ZMTP_CURVE_REJECTED`;
 * a client key refused by the server's `authorize` → `ZMTP_AUTH_FAILED`
 * on both sides (ERROR "400", the ZAP status libzmq sends and parses).
 */
import { DecodeError, VtxError } from "../errors.js";
import { CMD_ERROR, CMD_READY, commandDataOffset, decodeError, encodeCommandBody, encodeError, type ZmtpCommand } from "./commands.js";
import {
  KEY_BYTES,
  MAC_BYTES,
  boxBeforeNm,
  boxOpen,
  boxOpenFrom,
  boxSeal,
  boxSealWithHeadroom,
  box,
  curveKeyPairBytes,
  curvePublicKeyOf,
  nonceOf,
  random,
} from "./curve-crypto.js";
import { FLAG_COMMAND, FLAG_MORE } from "./frame.js";
import type { Mechanism, MechanismContext, MechanismFraming, MechanismStep } from "./mechanism.js";
import { registerCurve } from "./mechanism-option.js";
import { decodeMetadata } from "./metadata.js";
import { z85Decode, z85Encode } from "./z85.js";

export const CURVE_MECHANISM = "CURVE";

// Nonce prefixes: RFC 26 §"The HELLO Command" .. §"The MESSAGE Command", libzmq for MESSAGE.
export const NONCE_PREFIX_HELLO = "CurveZMQHELLO---";
export const NONCE_PREFIX_WELCOME = "WELCOME-";
export const NONCE_PREFIX_COOKIE = "COOKIE--";
export const NONCE_PREFIX_INITIATE = "CurveZMQINITIATE";
export const NONCE_PREFIX_VOUCH = "VOUCH---";
export const NONCE_PREFIX_READY = "CurveZMQREADY---";
export const NONCE_PREFIX_MESSAGE_CLIENT = "CurveZMQMESSAGEC";
export const NONCE_PREFIX_MESSAGE_SERVER = "CurveZMQMESSAGES";

const CMD_HELLO = "HELLO";
const CMD_WELCOME = "WELCOME";
const CMD_INITIATE = "INITIATE";

// Command data sizes (after the name), RFC 26 / RFC 25.
const HELLO_PADDING = 72;
const HELLO_DATA_SIZE = 2 + HELLO_PADDING + KEY_BYTES + 8 + 80; // 194
const WELCOME_DATA_SIZE = 16 + 144; // 160
const COOKIE_SIZE = 16 + 80; // nonce tail + SecretBox[C' ‖ s']
const VOUCH_SIZE = 16 + 80; // nonce tail + Box[C' ‖ S]
const INITIATE_MIN_DATA_SIZE = COOKIE_SIZE + 8 + MAC_BYTES + KEY_BYTES + VOUCH_SIZE; // 248
const READY_MIN_DATA_SIZE = 8 + MAC_BYTES; // 24
/** "\x07MESSAGE" ‖ short nonce: the 16-byte header of every MESSAGE. */
const MESSAGE_HEADER = 16;
const MESSAGE_MIN_SIZE = MESSAGE_HEADER + MAC_BYTES + 1;
const MESSAGE_NAME = Buffer.from("\x07MESSAGE", "latin1");
/**
 * The flags octet inside a MESSAGE box. RFC 26 defines bit 0 (MORE); libzmq
 * also sets bit 1 for a command (its msg_t::command, seen on the wire for
 * PING/SUBSCRIBE), which differs from ZMTP's frame COMMAND bit (0x04).
 */
const INNER_MORE = 0x01;
const INNER_COMMAND = 0x02;

/** A CURVE key: 40 Z85 characters (as `zmq.curveKeyPair()` returns) or 32 bytes. */
export type CurveKey = string | Uint8Array;

/** Decides whether a client's long-term public key may connect. Throwing or rejecting refuses. */
export type CurveAuthorizer = (client: { publicKey: string; peerAddress?: string | undefined }) => boolean | Promise<boolean>;

/** Parses a key option. Throws TypeError naming `what`. */
export function curveKeyBytes(key: CurveKey, what: string): Uint8Array {
  if (typeof key === "string") {
    if (key.length !== 40) throw new TypeError(`${what} must be 40 Z85 characters, got ${key.length}`);
    try {
      return z85Decode(key);
    } catch (err) {
      throw new TypeError(`${what} is not valid Z85: ${(err as Error).message}`);
    }
  }
  if (key instanceof Uint8Array && key.length === KEY_BYTES) return Uint8Array.from(key);
  throw new TypeError(`${what} must be a 40-character Z85 string or ${KEY_BYTES} bytes`);
}

/** A fresh long-term key pair in Z85, like zeromq.js's `curveKeyPair()`. */
export function curveKeyPair(): { publicKey: string; secretKey: string } {
  const { publicKey, secretKey } = curveKeyPairBytes();
  return { publicKey: z85Encode(publicKey), secretKey: z85Encode(secretKey) };
}

function u64(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32BE(Math.floor(n / 0x1_0000_0000), 0);
  b.writeUInt32BE(n >>> 0, 4);
  return b;
}

function readU64(b: Uint8Array, at: number): number {
  const hi = ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
  const lo = ((b[at + 4]! << 24) | (b[at + 5]! << 16) | (b[at + 6]! << 8) | b[at + 7]!) >>> 0;
  // Counters beyond 2^53 are never reached by an honest peer; precision loss only makes a forged one fail the MAC.
  return hi * 0x1_0000_0000 + lo;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function crypto(what: string, offset: number): VtxError {
  return new VtxError("ZMTP_CURVE_CRYPTO", `CURVE: ${what}`, { detail: { offset } });
}

function malformed(what: string, offset: number, state: string): DecodeError {
  return new DecodeError("ZMTP_MALFORMED_COMMAND", `CURVE ${what}`, offset, state);
}

function unexpected(command: ZmtpCommand, offset: number, phase: string): MechanismStep {
  return {
    error: new VtxError("ZMTP_UNEXPECTED_COMMAND", `unexpected ${command.name} while CURVE ${phase}`, { detail: { command: command.name, offset } }),
  };
}

/**
 * MESSAGE framing once the handshake is done: one box per frame, under the
 * transient shared key, with strictly increasing short nonces each way.
 */
export class CurveFraming implements MechanismFraming {
  /** libzmq sends MESSAGE in plain message frames; the engine accepts either kind. */
  readonly carrier = "message" as const;
  readonly #key: Uint8Array;
  readonly #sendNonce: Uint8Array;
  readonly #recvNonce: Uint8Array;
  #next: number;
  #peer: number;

  constructor(key: Uint8Array, asServer: boolean, nextNonce: number, peerNonce: number) {
    this.#key = key;
    this.#sendNonce = nonceOf(asServer ? NONCE_PREFIX_MESSAGE_SERVER : NONCE_PREFIX_MESSAGE_CLIENT, new Uint8Array(8));
    this.#recvNonce = nonceOf(asServer ? NONCE_PREFIX_MESSAGE_CLIENT : NONCE_PREFIX_MESSAGE_SERVER, new Uint8Array(8));
    this.#next = nextNonce;
    this.#peer = peerNonce;
  }

  wrap(flags: number, body: Uint8Array): Uint8Array {
    const n = this.#next++;
    const plain = Buffer.allocUnsafe(1 + body.length);
    plain[0] = ((flags & FLAG_MORE) !== 0 ? INNER_MORE : 0) | ((flags & FLAG_COMMAND) !== 0 ? INNER_COMMAND : 0);
    plain.set(body, 1);
    const nonce = this.#sendNonce;
    const hi = Math.floor(n / 0x1_0000_0000);
    const lo = n >>> 0;
    nonce[16] = hi >>> 24;
    nonce[17] = (hi >>> 16) & 0xff;
    nonce[18] = (hi >>> 8) & 0xff;
    nonce[19] = hi & 0xff;
    nonce[20] = lo >>> 24;
    nonce[21] = (lo >>> 16) & 0xff;
    nonce[22] = (lo >>> 8) & 0xff;
    nonce[23] = lo & 0xff;
    // The box lands at out[16..]; the 16 bytes before it are exactly the MESSAGE header.
    const out = Buffer.allocUnsafe(plain.length + 32);
    boxSealWithHeadroom(this.#key, nonce, plain, out);
    MESSAGE_NAME.copy(out, 0);
    out.set(nonce.subarray(16), 8);
    return out;
  }

  unwrap(commandBody: Buffer, offset: number): { flags: number; body: Buffer } {
    if (commandBody.length < MESSAGE_NAME.length || !commandBody.subarray(0, MESSAGE_NAME.length).equals(MESSAGE_NAME)) {
      throw new VtxError("ZMTP_UNEXPECTED_COMMAND", "CURVE: expected a MESSAGE after the handshake", { detail: { offset } });
    }
    if (commandBody.length < MESSAGE_MIN_SIZE) throw malformed(`MESSAGE of ${commandBody.length} bytes is too short`, offset, "curve-message");
    const n = readU64(commandBody, 8);
    if (n <= this.#peer) {
      throw new VtxError("ZMTP_CURVE_NONCE", `CURVE: MESSAGE nonce ${n} does not follow ${this.#peer} (replayed or reordered)`, {
        detail: { offset, nonce: n, last: this.#peer },
      });
    }
    const nonce = this.#recvNonce;
    nonce.set(commandBody.subarray(8, 16), 16);
    const plain = boxOpen(this.#key, nonce, commandBody.subarray(MESSAGE_HEADER));
    if (plain === undefined) throw crypto("MESSAGE box does not open (forged, corrupted or wrong key)", offset);
    this.#peer = n;
    const inner = plain[0]!;
    const flags = ((inner & INNER_MORE) !== 0 ? FLAG_MORE : 0) | ((inner & INNER_COMMAND) !== 0 ? FLAG_COMMAND : 0);
    return { flags, body: Buffer.from(plain.buffer, plain.byteOffset + 1, plain.length - 1) };
  }
}

export interface CurveClientOptions {
  /** The server's long-term public key (zeromq.js `curveServerKey`). */
  readonly serverKey: CurveKey;
  /** Our long-term key pair (`curvePublicKey` / `curveSecretKey`); generated per mechanism when omitted. */
  readonly publicKey?: CurveKey | undefined;
  readonly secretKey?: CurveKey | undefined;
}

/** CURVE client: proves it knows the server's key and vouches for its transient key with its long-term one. */
export class CurveClientMechanism implements Mechanism {
  readonly name = CURVE_MECHANISM;
  readonly asServer = false;
  framing: CurveFraming | undefined;
  readonly #serverKey: Uint8Array;
  readonly #publicKey: Uint8Array;
  readonly #secretKey: Uint8Array;
  #transient: { publicKey: Uint8Array; secretKey: Uint8Array } | undefined;
  #precomputed: Uint8Array | undefined;
  #metadata: Buffer = Buffer.alloc(0);
  #nonce = 1;
  #state: "welcome" | "ready" | "done" = "welcome";

  constructor(options: CurveClientOptions) {
    this.#serverKey = curveKeyBytes(options.serverKey, "CURVE server key");
    if (options.secretKey !== undefined) {
      this.#secretKey = curveKeyBytes(options.secretKey, "CURVE secret key");
      const derived = curvePublicKeyOf(this.#secretKey);
      if (options.publicKey !== undefined && !equal(curveKeyBytes(options.publicKey, "CURVE public key"), derived)) {
        throw new TypeError("CURVE public key does not belong to the secret key");
      }
      this.#publicKey = derived;
    } else {
      if (options.publicKey !== undefined) throw new TypeError("a CURVE public key needs its secret key");
      const pair = curveKeyPairBytes();
      this.#publicKey = pair.publicKey;
      this.#secretKey = pair.secretKey;
    }
  }

  /** Our long-term public key in Z85 (what a server's allow list holds). */
  get publicKey(): string {
    return z85Encode(this.#publicKey);
  }

  /** Once the transport ended during the handshake: what that means for a client. */
  explainEnd(): VtxError | undefined {
    if (this.#state === "welcome") {
      return new VtxError("ZMTP_CURVE_REJECTED", "CURVE: the server closed the connection after HELLO (wrong server key, or not a CURVE server)");
    }
    if (this.#state === "ready") {
      return new VtxError("ZMTP_CURVE_REJECTED", "CURVE: the server closed the connection after INITIATE (our key or vouch was not accepted)");
    }
    return undefined;
  }

  start(context: MechanismContext): MechanismStep {
    this.#metadata = context.localMetadata;
    const t = (this.#transient = curveKeyPairBytes());
    const n = this.#nonce++;
    // RFC 26 §HELLO: the box proves we know S; 64 zero bytes make it as long as the padding attackers would need.
    const signature = box(this.#serverKey, t.secretKey, nonceOf(NONCE_PREFIX_HELLO, u64(n)), new Uint8Array(64));
    if (signature === undefined) return { error: crypto("the server key is not a usable Curve25519 public key", 0) };
    return {
      send: [encodeCommandBody(CMD_HELLO, Uint8Array.of(1, 0), new Uint8Array(HELLO_PADDING), t.publicKey, u64(n), signature)],
    };
  }

  handle(command: ZmtpCommand, offset: number): MechanismStep {
    const at = commandDataOffset(command, offset);
    if (command.name === CMD_ERROR) {
      const reason = decodeError(command.data, at);
      // An ERROR in answer to INITIATE is the server refusing our key (ZAP status, "400").
      const code = this.#state === "ready" ? "ZMTP_AUTH_FAILED" : "ZMTP_PEER_ERROR";
      return { error: new VtxError(code, `CURVE server sent ERROR: ${reason}`, { detail: { reason } }) };
    }
    if (this.#state === "welcome" && command.name === CMD_WELCOME) return this.#onWelcome(command.data, at);
    if (this.#state === "ready" && command.name === CMD_READY) return this.#onReady(command.data, at);
    return unexpected(command, offset, `client waiting for ${this.#state.toUpperCase()}`);
  }

  #onWelcome(data: Buffer, at: number): MechanismStep {
    if (data.length !== WELCOME_DATA_SIZE) throw malformed(`WELCOME of ${data.length} data bytes (expected ${WELCOME_DATA_SIZE})`, at, "curve-welcome");
    const t = this.#transient!;
    const plain = boxOpenFrom(this.#serverKey, t.secretKey, nonceOf(NONCE_PREFIX_WELCOME, data.subarray(0, 16)), data.subarray(16));
    if (plain === undefined) return { error: crypto("WELCOME box does not open (the server does not hold the key we expect)", at) };
    const serverTransient = plain.subarray(0, KEY_BYTES);
    const cookie = plain.subarray(KEY_BYTES, KEY_BYTES + COOKIE_SIZE);
    const k = boxBeforeNm(serverTransient, t.secretKey);
    if (k === undefined) return { error: crypto("server transient key is a low-order point", at) };
    this.#precomputed = k;
    // RFC 26 §INITIATE: the vouch binds our transient key to our long-term key, for this server.
    const vouchTail = random(16);
    const vouch = box(serverTransient, this.#secretKey, nonceOf(NONCE_PREFIX_VOUCH, vouchTail), Buffer.concat([t.publicKey, this.#serverKey]));
    if (vouch === undefined) return { error: crypto("cannot vouch to the server transient key", at) };
    const n = this.#nonce++;
    const sealed = boxSeal(k, nonceOf(NONCE_PREFIX_INITIATE, u64(n)), Buffer.concat([this.#publicKey, vouchTail, vouch, this.#metadata]));
    this.#state = "ready";
    return { send: [encodeCommandBody(CMD_INITIATE, cookie, u64(n), sealed)] };
  }

  #onReady(data: Buffer, at: number): MechanismStep {
    if (data.length < READY_MIN_DATA_SIZE) throw malformed(`READY of ${data.length} data bytes is too short`, at, "curve-ready");
    const n = readU64(data, 0);
    const plain = boxOpen(this.#precomputed!, nonceOf(NONCE_PREFIX_READY, data.subarray(0, 8)), data.subarray(8));
    if (plain === undefined) return { error: crypto("READY box does not open", at) };
    const metadata = decodeMetadata(Buffer.from(plain.buffer, plain.byteOffset, plain.length), at + 8 + MAC_BYTES);
    this.framing = new CurveFraming(this.#precomputed!, false, this.#nonce, n);
    this.#state = "done";
    return { done: { metadata } };
  }
}

export interface CurveServerOptions {
  /** Our long-term secret key (zeromq.js `curveSecretKey`). */
  readonly secretKey: CurveKey;
  /** Our long-term public key (`curvePublicKey`); derived from the secret key when omitted, checked when given. */
  readonly publicKey?: CurveKey | undefined;
  /** Client authorization; every client that completes the handshake is accepted when omitted. */
  readonly authorize?: CurveAuthorizer | undefined;
}

/** CURVE server: proves it holds S, keeps no state between WELCOME and INITIATE but the cookie key. */
export class CurveServerMechanism implements Mechanism {
  readonly name = CURVE_MECHANISM;
  readonly asServer = true;
  framing: CurveFraming | undefined;
  readonly #publicKey: Uint8Array;
  readonly #secretKey: Uint8Array;
  readonly #authorize: CurveAuthorizer | undefined;
  #context: MechanismContext | undefined;
  #clientTransient: Uint8Array | undefined;
  #transient: { publicKey: Uint8Array; secretKey: Uint8Array } | undefined;
  #cookieKey: Uint8Array | undefined;
  #state: "hello" | "initiate" | "authorizing" | "done" = "hello";

  constructor(options: CurveServerOptions) {
    this.#secretKey = curveKeyBytes(options.secretKey, "CURVE secret key");
    const derived = curvePublicKeyOf(this.#secretKey);
    if (options.publicKey !== undefined && !equal(curveKeyBytes(options.publicKey, "CURVE public key"), derived)) {
      throw new TypeError("CURVE public key does not belong to the secret key");
    }
    this.#publicKey = derived;
    this.#authorize = options.authorize;
  }

  start(context: MechanismContext): MechanismStep {
    this.#context = context;
    return {};
  }

  handle(command: ZmtpCommand, offset: number): MechanismStep | Promise<MechanismStep> {
    const at = commandDataOffset(command, offset);
    if (command.name === CMD_ERROR) {
      const reason = decodeError(command.data, at);
      return { error: new VtxError("ZMTP_PEER_ERROR", `CURVE client sent ERROR: ${reason}`, { detail: { reason } }) };
    }
    if (this.#state === "hello" && command.name === CMD_HELLO) return this.#onHello(command.data, at);
    if (this.#state === "initiate" && command.name === CMD_INITIATE) return this.#onInitiate(command.data, at);
    return unexpected(command, offset, `server waiting for ${this.#state === "hello" ? "HELLO" : "INITIATE"}`);
  }

  #onHello(data: Buffer, at: number): MechanismStep {
    if (data.length !== HELLO_DATA_SIZE) throw malformed(`HELLO of ${data.length} data bytes (expected ${HELLO_DATA_SIZE})`, at, "curve-hello");
    if (data[0] !== 1 || data[1] !== 0) throw malformed(`HELLO version ${data[0]}.${data[1]} (expected 1.0)`, at, "curve-hello");
    const clientTransient = data.subarray(2 + HELLO_PADDING, 2 + HELLO_PADDING + KEY_BYTES);
    const nonceTail = data.subarray(2 + HELLO_PADDING + KEY_BYTES, 2 + HELLO_PADDING + KEY_BYTES + 8);
    const signature = data.subarray(2 + HELLO_PADDING + KEY_BYTES + 8);
    const plain = boxOpenFrom(clientTransient, this.#secretKey, nonceOf(NONCE_PREFIX_HELLO, nonceTail), signature);
    // RFC 26: a HELLO we cannot open is dropped without a word (no ERROR: it would help a prober).
    if (plain === undefined) return { error: crypto("HELLO box does not open (the client uses another server key)", at) };
    this.#clientTransient = Uint8Array.from(clientTransient);
    const t = (this.#transient = curveKeyPairBytes());
    // The cookie lets a stateless server recover C' and s' from INITIATE; we keep state anyway but check it as libzmq does.
    this.#cookieKey = random(KEY_BYTES);
    const cookieTail = random(16);
    const cookieBox = boxSeal(this.#cookieKey, nonceOf(NONCE_PREFIX_COOKIE, cookieTail), Buffer.concat([clientTransient, t.secretKey]));
    const welcomeTail = random(16);
    const welcome = box(clientTransient, this.#secretKey, nonceOf(NONCE_PREFIX_WELCOME, welcomeTail), Buffer.concat([t.publicKey, cookieTail, cookieBox]));
    if (welcome === undefined) return { error: crypto("client transient key is a low-order point", at) };
    this.#state = "initiate";
    return { send: [encodeCommandBody(CMD_WELCOME, welcomeTail, welcome)] };
  }

  #onInitiate(data: Buffer, at: number): MechanismStep | Promise<MechanismStep> {
    if (data.length < INITIATE_MIN_DATA_SIZE) throw malformed(`INITIATE of ${data.length} data bytes is too short`, at, "curve-initiate");
    const cookie = boxOpen(this.#cookieKey!, nonceOf(NONCE_PREFIX_COOKIE, data.subarray(0, 16)), data.subarray(16, COOKIE_SIZE));
    const t = this.#transient!;
    const clientTransient = this.#clientTransient!;
    if (cookie === undefined || !equal(cookie.subarray(0, KEY_BYTES), clientTransient) || !equal(cookie.subarray(KEY_BYTES), t.secretKey)) {
      return { error: crypto("INITIATE cookie is not the one we sent", at) };
    }
    const nonceTail = data.subarray(COOKIE_SIZE, COOKIE_SIZE + 8);
    const k = boxBeforeNm(clientTransient, t.secretKey);
    if (k === undefined) return { error: crypto("client transient key is a low-order point", at) };
    const plain = boxOpen(k, nonceOf(NONCE_PREFIX_INITIATE, nonceTail), data.subarray(COOKIE_SIZE + 8));
    if (plain === undefined) return { error: crypto("INITIATE box does not open", at) };
    const clientKey = plain.subarray(0, KEY_BYTES);
    const vouch = boxOpenFrom(clientKey, t.secretKey, nonceOf(NONCE_PREFIX_VOUCH, plain.subarray(KEY_BYTES, KEY_BYTES + 16)), plain.subarray(KEY_BYTES + 16, KEY_BYTES + VOUCH_SIZE));
    // The vouch must name this connection's C' and our S: otherwise it was lifted from another session.
    if (vouch === undefined || !equal(vouch.subarray(0, KEY_BYTES), clientTransient) || !equal(vouch.subarray(KEY_BYTES), this.#publicKey)) {
      return { error: crypto("INITIATE vouch does not match this connection", at) };
    }
    const metadataBytes = plain.subarray(KEY_BYTES + VOUCH_SIZE);
    const metadata = decodeMetadata(Buffer.from(metadataBytes.buffer, metadataBytes.byteOffset, metadataBytes.length), at + COOKIE_SIZE + 8 + MAC_BYTES + KEY_BYTES + VOUCH_SIZE);
    const peerNonce = readU64(nonceTail, 0);
    const userId = z85Encode(clientKey);
    const finish = (ok: boolean, cause?: unknown): MechanismStep => {
      if (!ok) {
        return {
          send: [encodeError("400")],
          error: new VtxError("ZMTP_AUTH_FAILED", `CURVE client key ${userId} refused`, { cause, detail: { publicKey: userId } }),
        };
      }
      const readyNonce = 1;
      const ready = boxSeal(k, nonceOf(NONCE_PREFIX_READY, u64(readyNonce)), this.#context!.localMetadata);
      this.framing = new CurveFraming(k, true, readyNonce + 1, peerNonce);
      this.#state = "done";
      return { send: [encodeCommandBody(CMD_READY, u64(readyNonce), ready)], done: { metadata, userId } };
    };
    if (this.#authorize === undefined) return finish(true);
    this.#state = "authorizing";
    let verdict: boolean | Promise<boolean>;
    try {
      verdict = this.#authorize({ publicKey: userId, peerAddress: this.#context?.peerAddress });
    } catch (err) {
      return finish(false, err);
    }
    if (typeof verdict === "boolean") return finish(verdict);
    return Promise.resolve(verdict).then(
      (ok) => finish(ok === true),
      (err: unknown) => finish(false, err),
    );
  }
}

registerCurve((option) => ("server" in option ? new CurveServerMechanism(option) : new CurveClientMechanism(option)));
