import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DecodeError } from "@vtx/runtime/errors";
import {
  decodeRoutingId,
  decodeZre,
  encodeRoutingId,
  encodeZre,
  MAX_ZRE_CONTENT_FRAMES,
  ZreDecoder,
  type ZreMessage,
} from "../../src/zre/codec.js";
import { decodeBeacon, encodeBeacon } from "../../src/zre/beacon-codec.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ""), "hex"));

function codeOf(f: () => unknown): { code: string; offset: number; state: string } {
  try {
    f();
  } catch (err) {
    if (err instanceof DecodeError) return { code: err.code, offset: err.offset, state: err.state };
    throw err;
  }
  throw new Error("expected a DecodeError");
}

describe("ZRE message codec (RFC 36, version 2)", () => {
  it("lays out a HELLO exactly as the RFC 36 grammar says", () => {
    const [frame] = encodeZre({
      type: "HELLO",
      sequence: 1,
      endpoint: "tcp://a:1",
      groups: ["G"],
      status: 3,
      name: "n",
      headers: { k: "v" },
    });
    expect(hex(frame!)).toBe(
      "aaa1" + "01" + "02" + "0001" + // signature, id, version, sequence
        "09" + hex(Buffer.from("tcp://a:1")) + // endpoint: string
        "00000001" + "00000001" + "47" + // groups: strings (count, longstr)
        "03" + // status
        "01" + "6e" + // name
        "00000001" + "01" + "6b" + "00000001" + "76", // headers: dictionary
    );
  });

  it("puts WHISPER and SHOUT content in the frames after the command frame", () => {
    const w = encodeZre({ type: "WHISPER", sequence: 0x1234, content: [bytes("01"), bytes("0203")] });
    expect(w.map(hex)).toEqual(["aaa102021234", "01", "0203"]);
    const s = encodeZre({ type: "SHOUT", sequence: 2, group: "ZPIPES", content: [bytes("ff")] });
    expect(s.map(hex)).toEqual(["aaa10302000206" + hex(Buffer.from("ZPIPES")), "ff"]);
    expect(decodeZre(s)).toEqual({ type: "SHOUT", sequence: 2, group: "ZPIPES", content: [bytes("ff")] });
  });

  it("encodes JOIN, LEAVE, PING and PING-OK with their ids 4..7", () => {
    expect(hex(encodeZre({ type: "JOIN", sequence: 5, group: "g", status: 1 })[0]!)).toBe("aaa10402000501" + "67" + "01");
    expect(hex(encodeZre({ type: "LEAVE", sequence: 6, group: "g", status: 2 })[0]!)).toBe("aaa10502000601" + "67" + "02");
    expect(hex(encodeZre({ type: "PING", sequence: 7 })[0]!)).toBe("aaa106020007");
    expect(hex(encodeZre({ type: "PING-OK", sequence: 8 })[0]!)).toBe("aaa107020008");
  });

  it("refuses to encode a string over 255 bytes", () => {
    expect(() => encodeZre({ type: "JOIN", sequence: 1, group: "x".repeat(256), status: 0 })).toThrow(
      expect.objectContaining({ code: "ZRE_STRING_TOO_LONG" }),
    );
  });

  it("rejects crafted bad input with stable codes, offsets and states", () => {
    expect(codeOf(() => decodeZre([]))).toMatchObject({ code: "ZRE_EMPTY" });
    expect(codeOf(() => decodeZre([new Uint8Array(0)]))).toMatchObject({ code: "ZRE_EMPTY" });
    expect(codeOf(() => decodeZre([bytes("aaa006020001")]))).toMatchObject({ code: "ZRE_BAD_SIGNATURE", offset: 0 });
    expect(codeOf(() => decodeZre([bytes("aaa108020001")]))).toMatchObject({ code: "ZRE_UNKNOWN_ID", offset: 2, state: "id" });
    expect(codeOf(() => decodeZre([bytes("aaa100020001")]))).toMatchObject({ code: "ZRE_UNKNOWN_ID" });
    expect(codeOf(() => decodeZre([bytes("aaa106010001")]))).toMatchObject({ code: "ZRE_BAD_VERSION", offset: 3 });
    expect(codeOf(() => decodeZre([bytes("aaa10602")]))).toMatchObject({ code: "ZRE_TRUNCATED", offset: 4, state: "sequence" });
    // JOIN whose group string claims 5 bytes but carries 1.
    expect(codeOf(() => decodeZre([bytes("aaa104020001056701")]))).toMatchObject({ code: "ZRE_TRUNCATED", state: "group" });
    // HELLO whose group count is absurd: refused before any allocation.
    expect(codeOf(() => decodeZre([bytes("aaa101020001 00 ffffffff")]))).toMatchObject({ code: "ZRE_TOO_MANY_ITEMS", offset: 7, state: "groups" });
    // HELLO whose one group claims a 4 GiB longstr.
    expect(codeOf(() => decodeZre([bytes("aaa101020001 00 00000001 ffffffff")]))).toMatchObject({ code: "ZRE_TRUNCATED", offset: 11, state: "groups" });
    // PING followed by a content frame.
    expect(codeOf(() => decodeZre([bytes("aaa106020001"), bytes("00")]))).toMatchObject({ code: "ZRE_UNEXPECTED_FRAMES" });
    const many = [bytes("aaa102020001"), ...Array.from({ length: MAX_ZRE_CONTENT_FRAMES + 1 }, () => bytes("00"))];
    expect(codeOf(() => decodeZre(many))).toMatchObject({ code: "ZRE_TOO_MANY_FRAMES" });
  });

  it("reports ZRE_TRUNCATED for every proper prefix of a HELLO's command frame", () => {
    const [frame] = encodeZre({ type: "HELLO", sequence: 9, endpoint: "tcp://127.0.0.1:5", groups: ["a", "bb"], status: 0, name: "x", headers: { h: "w" } });
    for (let n = 1; n < frame!.length; n++) {
      const e = codeOf(() => decodeZre([frame!.subarray(0, n)]));
      expect(e.code).toBe("ZRE_TRUNCATED");
      expect(e.offset).toBeLessThanOrEqual(n);
    }
  });

  it("ignores trailing bytes after the last field, as zproto codecs do", () => {
    expect(decodeZre([bytes("aaa106020001ffff")])).toEqual({ type: "PING", sequence: 1 });
  });

  it("push decoder: reports a bad message and keeps decoding the next one", () => {
    const got: ZreMessage[] = [];
    const errs: string[] = [];
    const d = new ZreDecoder((m) => got.push(m), (e) => errs.push(e.code));
    d.pushMessage([bytes("0000")]);
    d.pushMessage(encodeZre({ type: "WHISPER", sequence: 3, content: [bytes("aa"), bytes("bb")] }));
    d.push(bytes("aaa102020004"), true);
    for (let i = 0; i < MAX_ZRE_CONTENT_FRAMES + 5; i++) d.push(bytes("00"), true);
    d.push(bytes("00"), false);
    d.pushMessage(encodeZre({ type: "PING", sequence: 5 }));
    expect(errs).toEqual(["ZRE_BAD_SIGNATURE", "ZRE_TOO_MANY_FRAMES"]);
    expect(got).toEqual([
      { type: "WHISPER", sequence: 3, content: [bytes("aa"), bytes("bb")] },
      { type: "PING", sequence: 5 },
    ]);
  });

  const str255 = fc.string({ maxLength: 40 }).filter((s) => Buffer.byteLength(s) <= 255);
  const frame = fc.uint8Array({ maxLength: 64 }).map((a) => new Uint8Array(a));
  const message: fc.Arbitrary<ZreMessage> = fc.oneof(
    fc.record({
      type: fc.constant("HELLO" as const),
      sequence: fc.integer({ min: 0, max: 0xffff }),
      endpoint: str255,
      groups: fc.array(fc.string({ maxLength: 30 }), { maxLength: 8 }),
      status: fc.integer({ min: 0, max: 255 }),
      name: str255,
      headers: fc.dictionary(str255, fc.string({ maxLength: 30 }), { maxKeys: 5 }),
    }),
    fc.record({ type: fc.constant("WHISPER" as const), sequence: fc.integer({ min: 0, max: 0xffff }), content: fc.array(frame, { maxLength: 5 }) }),
    fc.record({ type: fc.constant("SHOUT" as const), sequence: fc.integer({ min: 0, max: 0xffff }), group: str255, content: fc.array(frame, { maxLength: 5 }) }),
    fc.record({ type: fc.constantFrom("JOIN" as const, "LEAVE" as const), sequence: fc.integer({ min: 0, max: 0xffff }), group: str255, status: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ type: fc.constantFrom("PING" as const, "PING-OK" as const), sequence: fc.integer({ min: 0, max: 0xffff }) }),
  );

  it("round-trips every message (fast-check)", () => {
    fc.assert(
      fc.property(message, (m) => {
        const back = decodeZre(encodeZre(m));
        expect({ ...back, ...("headers" in back ? { headers: { ...back.headers } } : {}) }).toEqual(m);
      }),
      { numRuns: 500 },
    );
  });

  it("never throws anything but a DecodeError on random frames (fast-check)", () => {
    fc.assert(
      fc.property(fc.array(frame, { minLength: 0, maxLength: 4 }), fc.boolean(), (frames, sig) => {
        if (sig && frames[0]) frames[0] = new Uint8Array([0xaa, 0xa1, ...frames[0]]);
        try {
          decodeZre(frames);
        } catch (err) {
          expect(err).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("routing id is %x01 + UUID and nothing else is accepted", () => {
    const uuid = bytes("00112233445566778899aabbccddeeff");
    const rid = encodeRoutingId(uuid);
    expect(hex(rid)).toBe("01" + hex(uuid));
    expect(hex(decodeRoutingId(rid))).toBe(hex(uuid));
    expect(codeOf(() => decodeRoutingId(uuid))).toMatchObject({ code: "ZRE_BAD_ROUTING_ID" });
    expect(codeOf(() => decodeRoutingId(bytes("02" + hex(uuid))))).toMatchObject({ code: "ZRE_BAD_ROUTING_ID" });
  });
});

describe("ZRE beacon codec (RFC 36 Node Discovery)", () => {
  const uuid = bytes("0123456789abcdef0123456789abcdef");

  it("is 'ZRE' + %x01 + UUID + big-endian port", () => {
    expect(hex(encodeBeacon({ uuid, port: 0xc001 }))).toBe("5a524501" + hex(uuid) + "c001");
    expect(decodeBeacon(bytes("5a524501" + hex(uuid) + "0000"))).toEqual({ uuid, port: 0 });
  });

  it("rejects crafted bad beacons with stable codes", () => {
    expect(codeOf(() => decodeBeacon(bytes("5a5245")))).toMatchObject({ code: "ZRE_BEACON_SIZE" });
    expect(codeOf(() => decodeBeacon(bytes("5a524501" + hex(uuid))))).toMatchObject({ code: "ZRE_BEACON_SIZE", offset: 20 });
    expect(codeOf(() => decodeBeacon(bytes("5a524501" + hex(uuid) + "000000")))).toMatchObject({ code: "ZRE_BEACON_SIZE" });
    expect(codeOf(() => decodeBeacon(bytes("5a534501" + hex(uuid) + "0001")))).toMatchObject({ code: "ZRE_BEACON_SIGNATURE", offset: 1 });
    expect(codeOf(() => decodeBeacon(bytes("5a524502" + hex(uuid) + "0001")))).toMatchObject({ code: "ZRE_BEACON_VERSION", offset: 3 });
  });

  it("round-trips any UUID and port (fast-check)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 0xffff }), (u, port) => {
        expect(decodeBeacon(encodeBeacon({ uuid: new Uint8Array(u), port }))).toEqual({ uuid: new Uint8Array(u), port });
      }),
    );
  });

  it("never throws anything but a DecodeError on random datagrams (fast-check)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 30 }), (d) => {
        try {
          decodeBeacon(d);
        } catch (err) {
          expect(err).toBeInstanceOf(DecodeError);
        }
      }),
    );
  });
});
