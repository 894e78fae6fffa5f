/**
 * The pure epgm:// codecs: PGM packets (RFC 3208), the checksum, and the
 * zmq_pgm(7) payload stream. Vectors are packets libzmq 4.3.4 + OpenPGM
 * (Debian) put on the wire, captured inside a network namespace.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DecodeError } from "@vtx/runtime/errors";
import { decodePacket, encodeData, encodeNak, encodeSpm, encodeSpmr, type SessionIds } from "../../src/epgm/packet.js";
import { pgmChecksum } from "../../src/epgm/checksum.js";
import { EPGM_ERR } from "../../src/epgm/codec-errors.js";
import { PayloadReader, PayloadWriter, payloadOffset } from "../../src/epgm/zmq-payload.js";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "hex"));
const text = (b: Uint8Array): string => Buffer.from(b).toString("latin1");

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof DecodeError ? err.code : `not a DecodeError: ${String(err)}`;
  }
  return undefined;
}

// libzmq PUB, epgm://10.77.0.2;239.192.1.1:5560, sending ["A","hello"] then "xyz".
const LIBZMQ_SPM = "e92215b8000069c7b7c6d1bc038a00000000000000000000ffffffff000100000a4d0002";
const LIBZMQ_ODATA_0 = "e92215b804005ac0b7c6d1bc038a000c00000000000000000000020141060068656c6c6f";
const LIBZMQ_ODATA_1 = "e92215b804007995b7c6d1bc038a000700000001000000000000040078797a";
const LIBZMQ_HEARTBEAT_SPM = "e92215b8000069c3b7c6d1bc038a0000000000030000000000000001000100000a4d0002";

const IDS: SessionIds = { gsi: hex("b7c6d1bc038a"), sport: 0xe922, dport: 5560 };

describe("PGM packets (RFC 3208) as libzmq/OpenPGM send them", () => {
  it("decodes libzmq's SPMs and ODATA, checksums included", () => {
    const spm = decodePacket(hex(LIBZMQ_SPM));
    expect(spm).toMatchObject({ kind: "SPM", sqn: 0, trail: 0, lead: 0xffffffff, nla: "10.77.0.2" });
    expect(spm.header).toMatchObject({ sport: 0xe922, dport: 5560, tsduLength: 0 });
    expect(decodePacket(hex(LIBZMQ_HEARTBEAT_SPM))).toMatchObject({ kind: "SPM", sqn: 3, trail: 0, lead: 1 });
    const d0 = decodePacket(hex(LIBZMQ_ODATA_0));
    expect(d0).toMatchObject({ kind: "ODATA", sqn: 0, trail: 0 });
    const d1 = decodePacket(hex(LIBZMQ_ODATA_1));
    expect(d1).toMatchObject({ kind: "ODATA", sqn: 1, trail: 0 });
    if (d0.kind !== "ODATA" || d1.kind !== "ODATA") throw new Error("not data");
    const got: string[][] = [];
    const reader = new PayloadReader({ message: (f) => got.push(f.map(text)), dropped: (c) => got.push([c]) });
    reader.push(d0.data);
    reader.push(d1.data);
    expect(got).toEqual([["A", "hello"], ["xyz"]]);
  });

  it("encodes the same bytes libzmq does for the same SPM and ODATA", () => {
    expect(Buffer.from(encodeSpm(IDS, 0, 0, 0xffffffff, "10.77.0.2")).toString("hex")).toBe(LIBZMQ_SPM);
    expect(Buffer.from(encodeSpm(IDS, 3, 0, 1, "10.77.0.2")).toString("hex")).toBe(LIBZMQ_HEARTBEAT_SPM);
    const apdus: Uint8Array[] = [];
    const w = new PayloadWriter(1400, (a) => apdus.push(a));
    w.write([Buffer.from("A"), Buffer.from("hello")]);
    w.flush();
    w.write([Buffer.from("xyz")]);
    w.flush();
    expect(Buffer.from(encodeData(IDS, "ODATA", 0, 0, apdus[0] as Uint8Array)).toString("hex")).toBe(LIBZMQ_ODATA_0);
    expect(Buffer.from(encodeData(IDS, "ODATA", 1, 0, apdus[1] as Uint8Array)).toString("hex")).toBe(LIBZMQ_ODATA_1);
  });

  it("round-trips NAKs with OPT_NAK_LIST, NCFs and SPMRs (upstream ports reversed)", () => {
    const nak = decodePacket(encodeNak(IDS, "NAK", [7, 8, 9], "10.77.0.2", "239.192.1.1"));
    expect(nak).toMatchObject({ kind: "NAK", sqns: [7, 8, 9], sourceNla: "10.77.0.2", groupNla: "239.192.1.1" });
    expect(nak.header).toMatchObject({ sport: 5560, dport: 0xe922 });
    const ncf = decodePacket(encodeNak(IDS, "NCF", [7], "10.77.0.2", "239.192.1.1"));
    expect(ncf).toMatchObject({ kind: "NCF", sqns: [7] });
    expect(ncf.header).toMatchObject({ sport: 0xe922, dport: 5560 });
    expect(decodePacket(encodeSpmr(IDS)).header).toMatchObject({ type: 0x0c, sport: 5560, dport: 0xe922 });
  });

  it("round-trips OPT_FRAGMENT data packets", () => {
    const p = decodePacket(encodeData(IDS, "RDATA", 10, 3, hex("aabbcc"), { first: 9, offset: 100, apduLength: 103 }));
    expect(p).toMatchObject({ kind: "RDATA", sqn: 10, trail: 3, fragment: { first: 9, offset: 100, apduLength: 103 } });
  });

  it("round-trips any data packet (fast-check)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.nat(), fc.nat(), fc.uint8Array({ maxLength: 1500 }), (gsi, sport, dport, sqn, trail, tsdu) => {
        const ids = { gsi, sport, dport };
        const p = decodePacket(encodeData(ids, "ODATA", sqn >>> 0, trail >>> 0, tsdu));
        if (p.kind !== "ODATA") throw new Error(p.kind);
        expect([p.sqn, p.trail, p.header.sport, p.header.dport]).toEqual([sqn >>> 0, trail >>> 0, sport, dport]);
        expect(Buffer.from(p.data).equals(Buffer.from(tsdu))).toBe(true);
      }),
    );
  });

  describe("malformed packets are refused with a stable code", () => {
    const good = (): Uint8Array => hex(LIBZMQ_ODATA_0);
    const reseal = (p: Uint8Array): Uint8Array => {
      p[6] = 0;
      p[7] = 0;
      const c = pgmChecksum(p);
      p[6] = c >>> 8;
      p[7] = c & 0xff;
      return p;
    };

    it("short packets: EPGM_TRUNCATED", () => {
      expect(codeOf(() => decodePacket(new Uint8Array(0)))).toBe(EPGM_ERR.TRUNCATED);
      expect(codeOf(() => decodePacket(good().subarray(0, 15)))).toBe(EPGM_ERR.TRUNCATED);
      expect(codeOf(() => decodePacket(reseal(hex(LIBZMQ_SPM).slice(0, 30))))).toBe(EPGM_ERR.TRUNCATED);
      expect(codeOf(() => decodePacket(reseal(good().slice(0, 20))))).toBe(EPGM_ERR.TRUNCATED);
    });

    it("a flipped bit: EPGM_BAD_CHECKSUM; data without a checksum: EPGM_NO_CHECKSUM", () => {
      const p = good();
      p[30] = (p[30] as number) ^ 0x10;
      expect(codeOf(() => decodePacket(p))).toBe(EPGM_ERR.BAD_CHECKSUM);
      const q = good();
      q[6] = 0;
      q[7] = 0;
      expect(codeOf(() => decodePacket(q))).toBe(EPGM_ERR.NO_CHECKSUM);
    });

    it("an unknown type or version: EPGM_BAD_TYPE", () => {
      for (const t of [0x03, 0x0b, 0x0e, 0x14, 0x44]) {
        const p = good();
        p[4] = t;
        expect(codeOf(() => decodePacket(reseal(p))), `type ${t}`).toBe(EPGM_ERR.BAD_TYPE);
      }
    });

    it("a TSDU length that lies: EPGM_BAD_LENGTH", () => {
      for (const len of [0, 11, 13, 0xffff]) {
        const p = good();
        p[14] = len >>> 8;
        p[15] = len & 0xff;
        expect(codeOf(() => decodePacket(reseal(p))), `tsdu ${len}`).toBe(EPGM_ERR.BAD_LENGTH);
      }
    });

    it("options that lie: EPGM_BAD_OPTION / EPGM_BAD_LENGTH", () => {
      const frag = (): Uint8Array => encodeData(IDS, "ODATA", 1, 0, hex("00000400"), { first: 1, offset: 0, apduLength: 4 }).slice();
      const noLengthFirst = frag();
      noLengthFirst[24] = 0x01;
      expect(codeOf(() => decodePacket(reseal(noLengthFirst)))).toBe(EPGM_ERR.BAD_OPTION);
      const totalTooBig = frag();
      totalTooBig[27] = 200;
      expect(codeOf(() => decodePacket(reseal(totalTooBig)))).toBe(EPGM_ERR.BAD_LENGTH);
      const noEnd = frag();
      noEnd[28] = 0x01; // OPT_FRAGMENT without the END bit, nothing after it
      expect(codeOf(() => decodePacket(reseal(noEnd)))).toBe(EPGM_ERR.BAD_OPTION);
      const overrun = encodeData(IDS, "ODATA", 1, 0, hex("00000400"), { first: 1, offset: 2, apduLength: 4 });
      expect(codeOf(() => decodePacket(overrun))).toBe(EPGM_ERR.BAD_OPTION);
    });

    it("an NLA of an unknown family: EPGM_BAD_AFI", () => {
      const p = hex(LIBZMQ_SPM);
      p[29] = 9;
      expect(codeOf(() => decodePacket(reseal(p)))).toBe(EPGM_ERR.BAD_AFI);
    });

    it("a payload offset past the end of the data: EPGM_BAD_OFFSET", () => {
      expect(codeOf(() => payloadOffset(hex("0005000102")))).toBe(EPGM_ERR.BAD_OFFSET);
      expect(codeOf(() => payloadOffset(hex("00")))).toBe(EPGM_ERR.BAD_OFFSET);
      expect(payloadOffset(hex("0003000102"))).toBe(3); // at the very end: allowed, libzmq sends it
      expect(payloadOffset(hex("ffff0001"))).toBe(0xffff);
    });

    it("arbitrary bytes never throw anything but a DecodeError (fuzz)", () => {
      const base = [hex(LIBZMQ_SPM), hex(LIBZMQ_ODATA_0), encodeNak(IDS, "NAK", [1, 2, 3], "10.0.0.1", "239.1.1.1")];
      fc.assert(
        fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.tuple(fc.constantFrom(...base), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.boolean()).map(([b, edits, fix]) => {
          const p = b.slice();
          for (const [i, v] of edits) p[i % p.length] = v;
          return fix ? reseal(p) : p;
        })), (bytes) => {
          try {
            decodePacket(bytes);
          } catch (err) {
            expect(err).toBeInstanceOf(DecodeError);
            expect(Object.values(EPGM_ERR)).toContain((err as DecodeError).code);
          }
        }),
        { numRuns: 2000 },
      );
    });
  });
});

describe("the zmq_pgm(7) payload stream", () => {
  const messages = fc.array(fc.array(fc.uint8Array({ maxLength: 700 }), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 30 });
  const encodeAll = (msgs: Uint8Array[][], apdu: number): Uint8Array[] => {
    const out: Uint8Array[] = [];
    const w = new PayloadWriter(apdu, (a) => out.push(a));
    for (const m of msgs) w.write(m);
    w.flush();
    return out;
  };
  const hexMsgs = (msgs: Uint8Array[][]): string[][] => msgs.map((m) => m.map((f) => Buffer.from(f).toString("hex")));

  it("round-trips messages through APDUs of any size, and every offset is a message start (fast-check)", () => {
    fc.assert(
      fc.property(messages, fc.integer({ min: 3, max: 1500 }), (msgs, size) => {
        const apdus = encodeAll(msgs, size);
        for (const a of apdus) expect(a.length).toBeLessThanOrEqual(size);
        const got: Uint8Array[][] = [];
        const r = new PayloadReader({ message: (f) => got.push(f.map((x) => x.slice())), dropped: (c) => { throw new Error(c); } });
        for (const a of apdus) r.push(a);
        expect(hexMsgs(got)).toEqual(hexMsgs(msgs));
        // A late joiner starting at any APDU finds a suffix of the messages, whole.
        for (let k = 0; k < apdus.length; k++) {
          const late: Uint8Array[][] = [];
          const lr = new PayloadReader({ message: (f) => late.push(f.map((x) => x.slice())), dropped: (c) => { throw new Error(c); } });
          for (const a of apdus.slice(k)) lr.push(a);
          expect(hexMsgs(late)).toEqual(hexMsgs(msgs.slice(msgs.length - late.length)));
        }
      }),
      { numRuns: 200 },
    );
  });

  it("uses 0xFFFF for an APDU that only continues a message, and an 8-octet length past 254", () => {
    const apdus = encodeAll([[new Uint8Array(3000)], [Buffer.from("z")]], 1000);
    expect(apdus.map((a) => payloadOffset(a))).toEqual([0, 0xffff, 0xffff, 3010 - 3 * 998]);
    expect(Buffer.from((apdus[0] as Uint8Array).subarray(2, 12)).toString("hex")).toBe("ff0000000000000bb900");
  });

  it("after a loss (reset) drops the partial message and joins again at the next offset", () => {
    const apdus = encodeAll([[new Uint8Array(2500).fill(1)], [new Uint8Array(2500).fill(2)], [Buffer.from("tail")]], 1000);
    const got: string[] = [];
    const r = new PayloadReader({ message: (f) => got.push(`${f.length}:${f[0]?.length}`), dropped: () => undefined });
    r.push(apdus[0] as Uint8Array);
    r.reset(); // apdus[1] lost
    for (const a of apdus.slice(2)) r.push(a);
    expect(got).toEqual(["1:2500", "1:4"]);
  });

  it("a zero-length frame or an oversized message breaks the stream with a code, then resynchronises", () => {
    const codes: string[] = [];
    const got: string[] = [];
    const r = new PayloadReader({ message: (f) => got.push(text(f[0] as Uint8Array)), dropped: (c) => codes.push(c) }, 10);
    r.push(hex("0000" + "00")); // length 0
    r.push(hex("0000" + "0c00" + "41".repeat(11))); // 11 > 10
    r.push(hex("0000" + "0300" + "6f6b"));
    expect(codes).toEqual([EPGM_ERR.BAD_FRAME, EPGM_ERR.TOO_LARGE]);
    expect(got).toEqual(["ok"]);
  });

  it("decodes the same whatever the APDU boundaries, down to one octet of data each", () => {
    const msgs = [[Buffer.from("a"), new Uint8Array(300).fill(7)], [Buffer.from("b")]];
    const apdus = encodeAll(msgs, 3);
    const got: Uint8Array[][] = [];
    const r = new PayloadReader({ message: (f) => got.push(f.map((x) => x.slice())), dropped: (c) => { throw new Error(c); } });
    for (const a of apdus) r.push(a);
    expect(hexMsgs(got)).toEqual(hexMsgs(msgs));
  });
});
