/**
 * ZWS 2.0 (ZeroMQ RFC 45) ⇄ ZMTP 3.x framing adapter. Pure: no I/O, no
 * timers, no `node:` imports.
 *
 * ZWS carries ØMQ frames as binary WebSocket messages, one frame per
 * message: a flag byte (0x00 last, 0x01 more, 0x02 command; RFC 45
 * §"Framing") and the body. There is no greeting: the subprotocol chosen in
 * the WebSocket handshake names the mechanism (RFC 45 §"Handshake"), whose
 * commands (READY, HELLO...) then travel as command frames exactly as in
 * ZMTP 3.0 (RFC 23/37). So the runtime's ZMTP engine does all the real work
 * (mechanisms, Socket-Type checks, identities, subscriptions) when fed the
 * same frames with ZMTP headers, and this adapter only rewrites headers:
 *
 * - peer → engine ({@link ZwsFraming.fromPeer}): first a synthetic peer
 *   greeting (version 3.0, the subprotocol's mechanism), then every ZWS
 *   message as a ZMTP frame (flags mapped, LONG and the size added).
 *   Version 3.0 makes the engine send subscriptions as `\x01topic` /
 *   `\x00topic` messages, which is what RFC 45 §"Publish-Subscribe"
 *   specifies (libzmq's ws drops ZMTP 3.1 SUBSCRIBE commands).
 * - engine → peer ({@link ZwsFraming.fromEngine}, a push decoder over the
 *   engine's byte stream): our 64-byte greeting is dropped, every frame
 *   becomes one ZWS message. The engine's PING command becomes a WebSocket
 *   ping instead (libzmq's ws engine does heartbeats with WebSocket control
 *   frames and ignores ZMTP PING commands).
 * - `ZWS2.0` (§"No Mechanism") has no commands: each side's first message
 *   is its routing id. The engine still runs NULL: its READY leaves as our
 *   routing id, and the peer's routing id enters as a READY carrying it as
 *   Identity. The peer's socket type is not on the wire in this mode, so
 *   the READY names a type compatible with ours (read from our own READY;
 *   libzmq does not check either); RFC 37's check happens only under
 *   ZWS2.0/NULL and /PLAIN.
 *
 * A frame that lies whole in one engine chunk leaves without a copy: its
 * ZMTP header's last byte (a size byte) is overwritten with the ZWS flag
 * and the message is a view from there. The engine's output buffers belong
 * to the transport once written, so this is safe. Bodies of frames split
 * across chunks are copied into one buffer.
 */
import { DecodeError } from "@vtx/runtime/errors";
import { CMD_PING, CMD_READY, encodeReady } from "@vtx/runtime/zmtp/commands";
import { FLAG_COMMAND, FLAG_LONG, FLAG_MORE } from "@vtx/runtime/zmtp/frame";
import { writeFrameHeader } from "@vtx/runtime/zmtp/frame-encoder";
import { GREETING_SIZE, encodeGreeting } from "@vtx/runtime/zmtp/greeting";
import {
  MAX_IDENTITY_LENGTH,
  PROPERTY_IDENTITY,
  PROPERTY_SOCKET_TYPE,
  decodeMetadata,
  encodeMetadata,
  getProperty,
} from "@vtx/runtime/zmtp/metadata";
import { isZmtpSocketType, type ZmtpSocketType } from "@vtx/runtime/zmtp/socket-type";
import { ZWS_ERR } from "./codes.js";
import { ZWS_NONE, ZWS_PLAIN, type ZwsSubprotocol } from "./subprotocol.js";

/** RFC 45 §"Framing" flag values. */
export const ZWS_FLAG_LAST = 0x00;
export const ZWS_FLAG_MORE = 0x01;
export const ZWS_FLAG_COMMAND = 0x02;

/**
 * Under `ZWS2.0` the peer's type is not announced; the engine is told the
 * peer is of a type compatible with ours (RFC 37's table). Only the
 * bridge's own type matters for what we do with the peer.
 */
const ASSUMED_PEER_TYPE: Readonly<Record<ZmtpSocketType, ZmtpSocketType>> = {
  PAIR: "PAIR",
  PUB: "SUB",
  XPUB: "SUB",
  SUB: "PUB",
  XSUB: "PUB",
  REQ: "ROUTER",
  REP: "DEALER",
  DEALER: "ROUTER",
  ROUTER: "DEALER",
  PUSH: "PULL",
  PULL: "PUSH",
};

export interface ZwsFramingSink {
  /** ZMTP bytes for the engine, in order. Views may alias the peer's message. */
  toEngine(bytes: Buffer): void;
  /** One ZWS frame (flag byte + body) to send as one binary WebSocket message. */
  toPeer(message: Buffer): void;
  /** The engine wants to ping the peer: send a WebSocket ping. */
  ping(): void;
}

export interface ZwsFramingOptions {
  /** The subprotocol both sides agreed on. */
  readonly subprotocol: ZwsSubprotocol;
  /** True when we are the PLAIN server (the peer's synthetic greeting says client). */
  readonly plainServer?: boolean;
}

// Push-decoder states for the engine's byte stream.
const S_GREETING = 0;
const S_HEADER = 1;
const S_BODY = 2;
const STATE_NAMES = ["greeting", "header", "body"] as const;

const READY_NAME = Buffer.from(CMD_READY, "latin1");
const PING_NAME = Buffer.from(CMD_PING, "latin1");

/** True when a ZMTP/ZWS command body is named `name` (command-name = size octet + name). */
function isCommand(body: Uint8Array, at: number, end: number, name: Buffer): boolean {
  const n = name.length;
  if (end - at < 1 + n || body[at] !== n) return false;
  for (let i = 0; i < n; i++) if (body[at + 1 + i] !== name[i]) return false;
  return true;
}

export class ZwsFraming {
  readonly subprotocol: ZwsSubprotocol;
  readonly #sink: ZwsFramingSink;
  readonly #noMechanism: boolean;
  readonly #plainServer: boolean;
  /** Under ZWS2.0: our type, read from the engine's READY. */
  #localType: ZmtpSocketType | undefined;
  /** Under ZWS2.0: the peer's routing id and what followed it, held until our type is known. */
  #held: Buffer[] | null = null;

  // peer → engine
  #peerOffset = 0;
  #gotRoutingId = false;
  #peerReady = false;

  // engine → peer (push decoder)
  #state = S_GREETING;
  #skip = GREETING_SIZE;
  readonly #header = Buffer.alloc(9);
  #headerHave = 0;
  #headerNeed = 0;
  #flags = 0;
  #body: Buffer | null = null; // flag byte + body, while a frame spans chunks
  #bodyHave = 0;
  #bodyNeed = 0;
  #engineOffset = 0;
  #sentReady = false;

  constructor(options: ZwsFramingOptions, sink: ZwsFramingSink) {
    this.subprotocol = options.subprotocol;
    this.#sink = sink;
    this.#noMechanism = options.subprotocol === ZWS_NONE;
    this.#plainServer = options.plainServer === true;
  }

  /**
   * The handshake is over as far as the wire shows: the peer's READY (or,
   * under ZWS2.0, its routing id) came in, or we sent READY as the PLAIN
   * server (RFC 24: the server's READY ends the handshake). Only then may
   * {@link peerAlive} feed the engine.
   */
  get ready(): boolean {
    return this.#peerReady || (this.#plainServer && this.#sentReady);
  }

  /** Feeds the engine the peer's synthetic greeting. Call once, first. */
  start(): void {
    const greeting = encodeGreeting({
      mechanism: this.subprotocol === ZWS_PLAIN ? "PLAIN" : "NULL",
      asServer: this.subprotocol === ZWS_PLAIN && !this.#plainServer,
      minor: 0,
    });
    // Signature padding as libzmq fills it (routing-id length + 1): the
    // engine then answers a refused PLAIN client in the ERROR form libzmq's
    // PLAIN client understands; libzmq is the ZWS peer that speaks PLAIN.
    greeting[8] = 1;
    this.#sink.toEngine(greeting);
  }

  /**
   * One binary WebSocket message from the peer. Throws {@link DecodeError}
   * (`ZWS_EMPTY_FRAME`, `ZWS_BAD_FLAGS`, `ZWS_BAD_ROUTING_ID`,
   * `ZWS_UNEXPECTED_COMMAND`) with the offset of the message in the peer's
   * stream of ZWS payload bytes.
   */
  fromPeer(message: Buffer): void {
    const offset = this.#peerOffset;
    this.#peerOffset += message.length;
    if (message.length === 0) {
      throw new DecodeError(ZWS_ERR.EMPTY_FRAME, "binary message without a ZWS flag byte", offset, "flags");
    }
    const flags = message[0]!;
    if (flags > ZWS_FLAG_COMMAND) {
      throw new DecodeError(ZWS_ERR.BAD_FLAGS, `ZWS flag byte 0x${flags.toString(16).padStart(2, "0")} is not 0x00, 0x01 or 0x02`, offset, "flags");
    }
    const size = message.length - 1;
    if (this.#noMechanism) {
      if (!this.#gotRoutingId) {
        this.#routingId(message, flags, offset);
        return;
      }
      if (flags === ZWS_FLAG_COMMAND) {
        throw new DecodeError(ZWS_ERR.UNEXPECTED_COMMAND, "command frame under ZWS2.0 (no mechanism)", offset, "frame");
      }
    } else if (flags === ZWS_FLAG_COMMAND && !this.#peerReady && isCommand(message, 1, message.length, READY_NAME)) {
      this.#peerReady = true;
    }
    const zflags = (flags === ZWS_FLAG_MORE ? FLAG_MORE : 0) | (flags === ZWS_FLAG_COMMAND ? FLAG_COMMAND : 0);
    if (size <= 255) {
      // One small buffer: a copy of up to 255 bytes is cheaper than a second engine push.
      const out = Buffer.allocUnsafe(size + 2);
      out[0] = zflags;
      out[1] = size;
      message.copy(out, 2, 1);
      this.#toEngine(out);
      return;
    }
    const header = Buffer.allocUnsafe(9);
    writeFrameHeader(header, 0, zflags, size);
    this.#toEngine(header);
    this.#toEngine(message.subarray(1));
  }

  #toEngine(bytes: Buffer): void {
    if (this.#held !== null) this.#held.push(bytes);
    else this.#sink.toEngine(bytes);
  }

  /**
   * The peer showed it is alive (a WebSocket ping or pong). After the
   * handshake this becomes a ZMTP PONG for the engine, so the link's
   * heartbeat sees traffic; before it, the engine would refuse a PONG, and
   * the peer's handshake messages count instead.
   */
  peerAlive(): void {
    if (!this.ready) return;
    // flags COMMAND, size 5, "\x04PONG" with an empty context (RFC 37 §PONG).
    this.#sink.toEngine(Buffer.from([FLAG_COMMAND, 5, 4, 0x50, 0x4f, 0x4e, 0x47]));
  }

  #routingId(message: Buffer, flags: number, offset: number): void {
    // RFC 45 §"No Mechanism": identity = message-last; libzmq caps routing ids at 255 bytes.
    if (flags !== ZWS_FLAG_LAST || message.length - 1 > MAX_IDENTITY_LENGTH) {
      throw new DecodeError(
        ZWS_ERR.BAD_ROUTING_ID,
        flags !== ZWS_FLAG_LAST ? "the first ZWS2.0 message must be a lone routing id frame" : `routing id of ${message.length - 1} bytes exceeds ${MAX_IDENTITY_LENGTH}`,
        offset,
        "routing-id",
      );
    }
    this.#gotRoutingId = true;
    this.#peerReady = true;
    this.#held = [Buffer.from(message.subarray(1))];
    if (this.#localType !== undefined) this.#release();
  }

  /** Under ZWS2.0, once both the peer's routing id and our type are known: the peer's READY, then what it sent after. */
  #release(): void {
    const held = this.#held!;
    this.#held = null;
    const ready = encodeReady(
      encodeMetadata([
        [PROPERTY_SOCKET_TYPE, ASSUMED_PEER_TYPE[this.#localType!]],
        [PROPERTY_IDENTITY, held[0]!],
      ]),
    );
    const out = Buffer.allocUnsafe(ready.length + 9);
    const at = writeFrameHeader(out, 0, FLAG_COMMAND, ready.length);
    out.set(ready, at);
    this.#sink.toEngine(out.subarray(0, at + ready.length));
    for (let i = 1; i < held.length; i++) this.#sink.toEngine(held[i]!);
  }

  /**
   * Bytes the engine wrote, in any split. Emits one ZWS message per ZMTP
   * frame through the sink. Throws {@link DecodeError}
   * `ZWS_BAD_FLAGS` if the engine's stream is not ZMTP (a bug, not input).
   */
  fromEngine(chunk: Buffer): void {
    let at = 0;
    const end = chunk.length;
    while (at < end) {
      switch (this.#state) {
        case S_GREETING: {
          const n = Math.min(this.#skip, end - at);
          this.#skip -= n;
          at += n;
          this.#engineOffset += n;
          if (this.#skip === 0) this.#state = S_HEADER;
          break;
        }
        case S_HEADER: {
          if (this.#headerHave === 0) {
            const flags = chunk[at]!;
            if ((flags & 0xf8) !== 0) {
              throw new DecodeError(ZWS_ERR.BAD_FLAGS, `engine wrote ZMTP flags 0x${flags.toString(16)}`, this.#engineOffset, STATE_NAMES[S_HEADER]);
            }
            this.#flags = flags;
            this.#headerNeed = (flags & FLAG_LONG) !== 0 ? 9 : 2;
            // Fast path: the whole frame is in this chunk.
            const headerEnd = at + this.#headerNeed;
            if (headerEnd <= end) {
              const size = this.#headerNeed === 2 ? chunk[at + 1]! : this.#readLongSize(chunk, at + 1);
              if (headerEnd + size <= end) {
                this.#emitWhole(chunk, headerEnd - 1, headerEnd + size);
                this.#engineOffset += headerEnd + size - at;
                at = headerEnd + size;
                continue;
              }
            }
          }
          const n = Math.min(this.#headerNeed - this.#headerHave, end - at);
          chunk.copy(this.#header, this.#headerHave, at, at + n);
          this.#headerHave += n;
          at += n;
          this.#engineOffset += n;
          if (this.#headerHave < this.#headerNeed) break;
          this.#headerHave = 0;
          const size = this.#headerNeed === 2 ? this.#header[1]! : this.#readLongSize(this.#header, 1);
          this.#body = Buffer.allocUnsafe(size + 1);
          this.#body[0] = this.#zwsFlag(this.#flags);
          this.#bodyHave = 0;
          this.#bodyNeed = size;
          this.#state = S_BODY;
          if (size === 0) this.#finishBody();
          break;
        }
        case S_BODY: {
          const n = Math.min(this.#bodyNeed - this.#bodyHave, end - at);
          chunk.copy(this.#body!, 1 + this.#bodyHave, at, at + n);
          this.#bodyHave += n;
          at += n;
          this.#engineOffset += n;
          if (this.#bodyHave === this.#bodyNeed) this.#finishBody();
          break;
        }
      }
    }
  }

  #readLongSize(buf: Buffer, at: number): number {
    const hi = buf.readUInt32BE(at);
    const lo = buf.readUInt32BE(at + 4);
    // Our own engine never writes more than a JS buffer can hold; guard anyway.
    if (hi > 0x1fffff) throw new DecodeError(ZWS_ERR.BAD_FLAGS, "engine wrote a frame size beyond 2^53", this.#engineOffset, STATE_NAMES[S_HEADER]);
    return hi * 4294967296 + lo;
  }

  #zwsFlag(zflags: number): number {
    if ((zflags & FLAG_COMMAND) !== 0) return ZWS_FLAG_COMMAND;
    return (zflags & FLAG_MORE) !== 0 ? ZWS_FLAG_MORE : ZWS_FLAG_LAST;
  }

  /** A frame whose header ends at `flagAt` (its last header byte) and whose body ends at `end`, all in `chunk`. */
  #emitWhole(chunk: Buffer, flagAt: number, end: number): void {
    const zflag = this.#zwsFlag(this.#flags);
    if (zflag === ZWS_FLAG_COMMAND && this.#command(chunk, flagAt + 1, end)) return;
    chunk[flagAt] = zflag;
    this.#sink.toPeer(chunk.subarray(flagAt, end));
  }

  #finishBody(): void {
    const message = this.#body!;
    this.#body = null;
    this.#state = S_HEADER;
    if (message[0] === ZWS_FLAG_COMMAND && this.#command(message, 1, message.length)) return;
    this.#sink.toPeer(message);
  }

  /** Handles a command the engine wrote; true when it is consumed here rather than sent as a ZWS command frame. */
  #command(buf: Buffer, at: number, end: number): boolean {
    if (isCommand(buf, at, end, PING_NAME)) {
      // Heartbeats are WebSocket pings in ZWS (libzmq ignores PING commands on ws).
      this.#sink.ping();
      return true;
    }
    const isReady = isCommand(buf, at, end, READY_NAME);
    if (isReady) this.#sentReady = true;
    if (!this.#noMechanism) return false;
    if (isReady && this.#localType === undefined) {
      // Our READY leaves as our routing id (RFC 45 §"No Mechanism").
      const props = decodeMetadata(buf.subarray(at + 1 + READY_NAME.length, end));
      const identity = getProperty(props, PROPERTY_IDENTITY) ?? Buffer.alloc(0);
      const type = getProperty(props, PROPERTY_SOCKET_TYPE)?.toString("latin1") ?? "";
      if (!isZmtpSocketType(type)) {
        throw new DecodeError(ZWS_ERR.BAD_FLAGS, `engine READY names socket type ${JSON.stringify(type)}`, this.#engineOffset, "ready");
      }
      this.#localType = type;
      const out = Buffer.allocUnsafe(identity.length + 1);
      out[0] = ZWS_FLAG_LAST;
      identity.copy(out, 1);
      this.#sink.toPeer(out);
      if (this.#held !== null) this.#release();
    }
    // Every other command (ERROR before a close, PONG) has no form without a mechanism.
    return true;
  }
}
