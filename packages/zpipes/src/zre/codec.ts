/**
 * ZRE message codec, ZeroMQ RFC 36 (ZRE protocol version 2). Pure: no I/O,
 * no `node:` imports.
 *
 * A ZRE message is one ØMQ message of one or more frames. The first frame
 * carries the command (RFC 36 "Protocol Grammar"):
 *
 *   signature %xAA %xA1, message id (1 octet), version (1 octet, = 2),
 *   sequence (2 octets), then the command's fields.
 *
 * WHISPER and SHOUT carry their `content` as the frames that follow the first
 * one ("msg = *frame"). Numbers are big-endian; `string` is a 1-octet length
 * and bytes, `longstr` a 4-octet length and bytes, `strings` a 4-octet count
 * of longstr, `dictionary` a 4-octet count of (string name, longstr value).
 */
import { DecodeError, VtxError } from "@vtx/runtime/errors";

export const ZRE_SIGNATURE_0 = 0xaa;
export const ZRE_SIGNATURE_1 = 0xa1;
/** RFC 36 is ZRE version 2 (the header's version octet). */
export const ZRE_VERSION = 2;

/** Bound on the first (command) frame: HELLO with groups and headers. */
export const MAX_ZRE_COMMAND_BYTES = 1024 * 1024;
/** Bound on the number of groups in a HELLO and headers in its dictionary. */
export const MAX_ZRE_LIST_ITEMS = 4096;
/** Bound on the number of content frames after a WHISPER or SHOUT command. */
export const MAX_ZRE_CONTENT_FRAMES = 1024;

export const ZreId = {
  HELLO: 1,
  WHISPER: 2,
  SHOUT: 3,
  JOIN: 4,
  LEAVE: 5,
  PING: 6,
  PING_OK: 7,
} as const;

interface Base {
  /** Cyclic sequence number (RFC 36: per sender→receiver link, HELLO is 1). */
  sequence: number;
}
export interface ZreHello extends Base {
  type: "HELLO";
  /** The endpoint the sender's ROUTER can be reached at, e.g. `tcp://10.0.0.1:49152`. */
  endpoint: string;
  groups: string[];
  /** Sender's group status counter: incremented on every JOIN and LEAVE, mod 256. */
  status: number;
  name: string;
  headers: Record<string, string>;
}
export interface ZreWhisper extends Base {
  type: "WHISPER";
  content: Uint8Array[];
}
export interface ZreShout extends Base {
  type: "SHOUT";
  group: string;
  content: Uint8Array[];
}
export interface ZreJoin extends Base {
  type: "JOIN";
  group: string;
  status: number;
}
export interface ZreLeave extends Base {
  type: "LEAVE";
  group: string;
  status: number;
}
export interface ZrePing extends Base {
  type: "PING";
}
export interface ZrePingOk extends Base {
  type: "PING-OK";
}
export type ZreMessage = ZreHello | ZreWhisper | ZreShout | ZreJoin | ZreLeave | ZrePing | ZrePingOk;

// ---------------------------------------------------------------- encoding

const utf8 = new TextEncoder();

function encodeError(code: string, message: string): VtxError {
  return new VtxError(code, message);
}

class Writer {
  private buf: Uint8Array;
  private pos = 0;
  constructor(size = 64) {
    this.buf = new Uint8Array(size);
  }
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v & 0xff;
  }
  u16(v: number): void {
    this.room(2);
    this.buf[this.pos++] = (v >>> 8) & 0xff;
    this.buf[this.pos++] = v & 0xff;
  }
  u32(v: number): void {
    this.room(4);
    this.buf[this.pos++] = (v >>> 24) & 0xff;
    this.buf[this.pos++] = (v >>> 16) & 0xff;
    this.buf[this.pos++] = (v >>> 8) & 0xff;
    this.buf[this.pos++] = v & 0xff;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  /** RFC 36 `string`: 1-octet length, so at most 255 bytes of UTF-8. */
  string(s: string, field: string): void {
    const b = utf8.encode(s);
    if (b.length > 255) throw encodeError("ZRE_STRING_TOO_LONG", `${field} is ${b.length} bytes; a ZRE string holds at most 255`);
    this.u8(b.length);
    this.bytes(b);
  }
  longstr(s: string): void {
    const b = utf8.encode(s);
    this.u32(b.length);
    this.bytes(b);
  }
  done(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

function checkU8(v: number, field: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw encodeError("ZRE_BAD_FIELD", `${field} must be 0..255, got ${v}`);
}

/**
 * Encodes a ZRE message into its ØMQ frames: the command frame first, then
 * (WHISPER, SHOUT) the content frames as given (not copied).
 */
export function encodeZre(msg: ZreMessage): Uint8Array[] {
  if (!Number.isInteger(msg.sequence) || msg.sequence < 0 || msg.sequence > 0xffff) {
    throw encodeError("ZRE_BAD_FIELD", `sequence must be 0..65535, got ${msg.sequence}`);
  }
  const w = new Writer();
  w.u8(ZRE_SIGNATURE_0);
  w.u8(ZRE_SIGNATURE_1);
  switch (msg.type) {
    case "HELLO": {
      w.u8(ZreId.HELLO);
      w.u8(ZRE_VERSION);
      w.u16(msg.sequence);
      w.string(msg.endpoint, "endpoint");
      if (msg.groups.length > MAX_ZRE_LIST_ITEMS) throw encodeError("ZRE_BAD_FIELD", `too many groups (${msg.groups.length})`);
      w.u32(msg.groups.length);
      for (const g of msg.groups) w.longstr(g);
      checkU8(msg.status, "status");
      w.u8(msg.status);
      w.string(msg.name, "name");
      const entries = Object.entries(msg.headers);
      if (entries.length > MAX_ZRE_LIST_ITEMS) throw encodeError("ZRE_BAD_FIELD", `too many headers (${entries.length})`);
      w.u32(entries.length);
      for (const [k, v] of entries) {
        w.string(k, "header name");
        w.longstr(v);
      }
      const frame = w.done();
      if (frame.length > MAX_ZRE_COMMAND_BYTES) throw encodeError("ZRE_BAD_FIELD", `HELLO is ${frame.length} bytes, over ${MAX_ZRE_COMMAND_BYTES}`);
      return [frame];
    }
    case "WHISPER":
      return encodeWhisper(msg.sequence, msg.content);
    case "SHOUT":
      w.u8(ZreId.SHOUT);
      w.u8(ZRE_VERSION);
      w.u16(msg.sequence);
      w.string(msg.group, "group");
      if (msg.content.length > MAX_ZRE_CONTENT_FRAMES) throw encodeError("ZRE_BAD_FIELD", `too many content frames (${msg.content.length})`);
      return [w.done(), ...msg.content];
    case "JOIN":
    case "LEAVE":
      w.u8(msg.type === "JOIN" ? ZreId.JOIN : ZreId.LEAVE);
      w.u8(ZRE_VERSION);
      w.u16(msg.sequence);
      w.string(msg.group, "group");
      checkU8(msg.status, "status");
      w.u8(msg.status);
      return [w.done()];
    case "PING":
    case "PING-OK":
      w.u8(msg.type === "PING" ? ZreId.PING : ZreId.PING_OK);
      w.u8(ZRE_VERSION);
      w.u16(msg.sequence);
      return [w.done()];
  }
}

/** WHISPER without the general encoder's allocations (the bulk path). */
export function encodeWhisper(sequence: number, content: readonly Uint8Array[]): Uint8Array[] {
  if (content.length > MAX_ZRE_CONTENT_FRAMES) throw encodeError("ZRE_BAD_FIELD", `too many content frames (${content.length})`);
  const head = new Uint8Array(6);
  head[0] = ZRE_SIGNATURE_0;
  head[1] = ZRE_SIGNATURE_1;
  head[2] = ZreId.WHISPER;
  head[3] = ZRE_VERSION;
  head[4] = (sequence >>> 8) & 0xff;
  head[5] = sequence & 0xff;
  const frames: Uint8Array[] = [head];
  for (const c of content) frames.push(c);
  return frames;
}

// ---------------------------------------------------------------- decoding

const utf8d = new TextDecoder();

/**
 * Reads the command frame with bounds checks; every error names the byte
 * offset and the field being read (the decoder "state").
 */
class Reader {
  pos = 0;
  constructor(private readonly b: Uint8Array) {}
  private need(n: number, state: string): void {
    if (this.pos + n > this.b.length) {
      throw new DecodeError("ZRE_TRUNCATED", `command frame ends inside ${state}`, this.b.length, state);
    }
  }
  u8(state: string): number {
    this.need(1, state);
    return this.b[this.pos++]!;
  }
  u16(state: string): number {
    this.need(2, state);
    const v = (this.b[this.pos]! << 8) | this.b[this.pos + 1]!;
    this.pos += 2;
    return v;
  }
  u32(state: string): number {
    this.need(4, state);
    const v = ((this.b[this.pos]! << 24) | (this.b[this.pos + 1]! << 16) | (this.b[this.pos + 2]! << 8) | this.b[this.pos + 3]!) >>> 0;
    this.pos += 4;
    return v;
  }
  string(state: string): string {
    const n = this.u8(state);
    this.need(n, state);
    const s = utf8d.decode(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
  longstr(state: string): string {
    const at = this.pos;
    const n = this.u32(state);
    // A longstr can never be longer than the frame that holds it; checking
    // before allocating keeps a hostile length from costing memory.
    if (n > this.b.length - this.pos) {
      throw new DecodeError("ZRE_TRUNCATED", `${state} claims ${n} bytes, frame has ${this.b.length - this.pos}`, at, state);
    }
    const s = utf8d.decode(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
  count(state: string): number {
    const at = this.pos;
    const n = this.u32(state);
    if (n > MAX_ZRE_LIST_ITEMS) {
      throw new DecodeError("ZRE_TOO_MANY_ITEMS", `${state} count ${n} is over ${MAX_ZRE_LIST_ITEMS}`, at, state);
    }
    return n;
  }
}

/**
 * Decodes one complete ZRE message from its frames (without the ROUTER's
 * routing-id frame). Throws {@link DecodeError} with a stable code:
 * `ZRE_EMPTY`, `ZRE_TOO_LARGE`, `ZRE_TOO_MANY_FRAMES`, `ZRE_BAD_SIGNATURE`,
 * `ZRE_UNKNOWN_ID`, `ZRE_BAD_VERSION`, `ZRE_TRUNCATED`, `ZRE_TOO_MANY_ITEMS`,
 * `ZRE_UNEXPECTED_FRAMES`. Trailing bytes after the last field of the command
 * frame are ignored, as zproto-generated ZRE codecs do.
 */
export function decodeZre(frames: readonly Uint8Array[]): ZreMessage {
  const head = frames[0];
  if (head === undefined || head.length === 0) throw new DecodeError("ZRE_EMPTY", "no command frame", 0, "signature");
  if (head.length > MAX_ZRE_COMMAND_BYTES) {
    throw new DecodeError("ZRE_TOO_LARGE", `command frame is ${head.length} bytes, over ${MAX_ZRE_COMMAND_BYTES}`, 0, "signature");
  }
  if (frames.length - 1 > MAX_ZRE_CONTENT_FRAMES) {
    throw new DecodeError("ZRE_TOO_MANY_FRAMES", `${frames.length - 1} content frames, over ${MAX_ZRE_CONTENT_FRAMES}`, 0, "content");
  }
  const r = new Reader(head);
  const s0 = r.u8("signature");
  const s1 = r.u8("signature");
  if (s0 !== ZRE_SIGNATURE_0 || s1 !== ZRE_SIGNATURE_1) {
    throw new DecodeError("ZRE_BAD_SIGNATURE", `signature ${hex2(s0)}${hex2(s1)} is not aaa1`, 0, "signature");
  }
  const id = r.u8("id");
  if (id < ZreId.HELLO || id > ZreId.PING_OK) throw new DecodeError("ZRE_UNKNOWN_ID", `unknown message id ${id}`, 2, "id");
  const version = r.u8("version");
  if (version !== ZRE_VERSION) throw new DecodeError("ZRE_BAD_VERSION", `version ${version}, expected ${ZRE_VERSION}`, 3, "version");
  const sequence = r.u16("sequence");
  const content = frames.slice(1);
  const noContent = (): void => {
    if (content.length > 0) {
      throw new DecodeError("ZRE_UNEXPECTED_FRAMES", `message id ${id} takes no content frames, got ${content.length}`, head.length, "content");
    }
  };
  switch (id) {
    case ZreId.HELLO: {
      const endpoint = r.string("endpoint");
      const ng = r.count("groups");
      const groups: string[] = [];
      for (let i = 0; i < ng; i++) groups.push(r.longstr("groups"));
      const status = r.u8("status");
      const name = r.string("name");
      const nh = r.count("headers");
      const headers: Record<string, string> = Object.create(null) as Record<string, string>;
      for (let i = 0; i < nh; i++) {
        const k = r.string("headers");
        headers[k] = r.longstr("headers");
      }
      noContent();
      return { type: "HELLO", sequence, endpoint, groups, status, name, headers };
    }
    case ZreId.WHISPER:
      return { type: "WHISPER", sequence, content };
    case ZreId.SHOUT: {
      const group = r.string("group");
      return { type: "SHOUT", sequence, group, content };
    }
    case ZreId.JOIN:
    case ZreId.LEAVE: {
      const group = r.string("group");
      const status = r.u8("status");
      noContent();
      return { type: id === ZreId.JOIN ? "JOIN" : "LEAVE", sequence, group, status };
    }
    case ZreId.PING:
      noContent();
      return { type: "PING", sequence };
    default:
      noContent();
      return { type: "PING-OK", sequence };
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

/**
 * Push decoder over ØMQ frames: `push(frame, more)` collects the frames of
 * one message and hands the decoded message (or the error, so that one bad
 * message never stops the stream) to the sink when the last frame arrives.
 * The frame count of one message is bounded by {@link MAX_ZRE_CONTENT_FRAMES};
 * beyond it the rest of that message is dropped and one error reported.
 */
export class ZreDecoder {
  private frames: Uint8Array[] = [];
  private overflow = false;

  constructor(
    private readonly sink: (msg: ZreMessage) => void,
    private readonly onError: (err: DecodeError) => void,
  ) {}

  push(frame: Uint8Array, more: boolean): void {
    if (!this.overflow) {
      if (this.frames.length > MAX_ZRE_CONTENT_FRAMES) {
        this.overflow = true;
        this.frames = [];
      } else {
        this.frames.push(frame);
      }
    }
    if (more) return;
    const frames = this.frames;
    const overflow = this.overflow;
    this.frames = [];
    this.overflow = false;
    if (overflow) {
      this.onError(new DecodeError("ZRE_TOO_MANY_FRAMES", `message has more than ${MAX_ZRE_CONTENT_FRAMES} content frames`, 0, "content"));
      return;
    }
    let msg: ZreMessage;
    try {
      msg = decodeZre(frames);
    } catch (err) {
      if (err instanceof DecodeError) {
        this.onError(err);
        return;
      }
      throw err;
    }
    this.sink(msg);
  }

  /** Convenience for a whole message as received from a socket. */
  pushMessage(frames: readonly Uint8Array[]): void {
    for (let i = 0; i < frames.length; i++) this.push(frames[i]!, i < frames.length - 1);
  }
}

// ---------------------------------------------------------------- routing id

/**
 * RFC 36 "Interconnection Model": a node's DEALER to a peer carries the
 * routing id %x01 followed by the node's 16-octet UUID (the leading octet
 * keeps libzmq from reading a UUID starting with zero as a generated id).
 */
export function encodeRoutingId(uuid: Uint8Array): Uint8Array {
  if (uuid.length !== 16) throw encodeError("ZRE_BAD_FIELD", `UUID must be 16 bytes, got ${uuid.length}`);
  const out = new Uint8Array(17);
  out[0] = 1;
  out.set(uuid, 1);
  return out;
}

/** The sender's UUID from a ROUTER's routing-id frame. */
export function decodeRoutingId(frame: Uint8Array): Uint8Array {
  if (frame.length !== 17 || frame[0] !== 1) {
    throw new DecodeError("ZRE_BAD_ROUTING_ID", `routing id of ${frame.length} bytes is not %x01 + UUID`, 0, "routing-id");
  }
  return frame.subarray(1);
}
