import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DecodeError } from "@vtx/runtime/errors";
import {
  CMD,
  HEADER_ROOM,
  SOCKET_TYPES,
  UDP_ERR,
  decodeDatagram,
  encodeControlDatagram,
  encodeControlRoom,
  parseDatagram,
  readHeader,
  sealDatagram,
  socketTypesCompatible,
  type ControlCommand,
  type DatagramSink,
  type SocketType,
} from "../../src/udp/protocol.js";

const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ""), "hex"));
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

/** Header: "VX", version 1, flags, session 0xAABBCCDD, seq 5. */
const HDR = (flags = "00") => `5658 01 ${flags} aabbccdd 00000005`;

interface Collected {
  messages: Uint8Array[][];
  fragments: { msgId: number; index: number; count: number; total: number; chunk: Uint8Array }[];
  controls: ControlCommand[];
}

function collector(): { sink: DatagramSink; got: Collected } {
  const got: Collected = { messages: [], fragments: [], controls: [] };
  return {
    got,
    sink: {
      message: (frames) => got.messages.push(frames.map((f) => f.slice())),
      fragment: (msgId, index, count, total, chunk) => got.fragments.push({ msgId, index, count, total, chunk: chunk.slice() }),
      control: (cmd) => got.controls.push(cmd),
    },
  };
}

function decodeError(dg: Uint8Array, maxMessageSize?: number): DecodeError {
  const { sink, got } = collector();
  try {
    decodeDatagram(dg, sink, maxMessageSize === undefined ? undefined : { maxMessageSize });
  } catch (err) {
    expect(err).toBeInstanceOf(DecodeError);
    // A malformed datagram is acted on all or nothing.
    expect(got.messages.length + got.fragments.length + got.controls.length).toBe(0);
    return err as DecodeError;
  }
  throw new Error(`expected a DecodeError for ${hex(dg)}`);
}

describe("VXU header", () => {
  it("seals a batch without an ack 8 octets into its room, so commands never move", () => {
    const room = new Uint8Array(HEADER_ROOM + 3);
    room.set([CMD.BYE, 0, 0], HEADER_ROOM);
    const dg = sealDatagram(room, false, 0xaabbccdd, 5, false);
    expect(hex(dg)).toBe(`${HDR()}060000`.replace(/\s+/g, ""));
    expect(dg.buffer).toBe(room.buffer);
    const h = readHeader(dg);
    expect(h).toMatchObject({ reliable: false, session: 0xaabbccdd, seq: 5, hasAck: false, bodyOffset: 12 });
  });

  it("seals with an ack block filling the whole room", () => {
    const dg = sealDatagram(new Uint8Array(HEADER_ROOM), true, 0xaabbccdd, 5, true, 0xfffffffe, 0x80000001);
    expect(hex(dg)).toBe(`${HDR("03")} fffffffe 80000001`.replace(/\s+/g, ""));
    expect(readHeader(dg)).toMatchObject({ reliable: true, hasAck: true, ackNext: 0xfffffffe, ackMask: 0x80000001, bodyOffset: 20 });
  });

  it("round-trips any header fields", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), (reliable, ack, session, seq, next, mask) => {
        const dg = sealDatagram(new Uint8Array(HEADER_ROOM), reliable, session, seq, ack, next, mask);
        const h = parseDatagram(dg);
        expect(h).toMatchObject({ reliable, session, seq, hasAck: ack });
        if (ack) expect([h.ackNext, h.ackMask]).toEqual([next, mask]);
      }),
    );
  });
});

describe("VXU commands", () => {
  it("decodes a MESSAGE with short, long and empty frames", () => {
    const long = "ab".repeat(300);
    const dg = bytes(`${HDR()} 10 ${(2 + 1 + 5 + 300 + 2).toString(16).padStart(4, "0")} 01 01 68 03 0000012c ${long} 00 00`);
    const { sink, got } = collector();
    decodeDatagram(dg, sink);
    expect(got.messages.map((m) => m.map(hex))).toEqual([["68", long, ""]]);
  });

  it("encodes HELLO byte for byte", () => {
    const dg = encodeControlDatagram(0xaabbccdd, 5, [
      { type: "HELLO", socketType: "DEALER", reliable: true, maxDatagram: 1200, window: 256, heartbeat: 1000, identity: bytes("6964") },
    ]);
    expect(hex(dg)).toBe(`${HDR()} 01 000d 05 01 04b0 0100 000003e8 02 6964`.replace(/\s+/g, ""));
  });

  const arbSocketType = fc.constantFrom(...SOCKET_TYPES);
  const arbControl: fc.Arbitrary<ControlCommand> = fc.oneof(
    fc.record({
      type: fc.constantFrom("HELLO" as const, "HELLO_OK" as const),
      socketType: arbSocketType,
      reliable: fc.boolean(),
      maxDatagram: fc.integer({ min: 512, max: 65507 }),
      window: fc.integer({ min: 1, max: 0xffff }),
      heartbeat: fc.nat({ max: 0xffffffff }),
      identity: fc.uint8Array({ maxLength: 255 }),
    }),
    fc.record({ type: fc.constant("REFUSE" as const), code: fc.constantFrom(1 as const, 2 as const, 3 as const, 4 as const), refusedTag: fc.nat({ max: 0xffffffff }), reason: fc.string({ maxLength: 60 }) }),
    fc.record({ type: fc.constantFrom("PING" as const, "PONG" as const), token: fc.nat({ max: 0xffffffff }) }),
    fc.constant({ type: "BYE" as const }),
    fc.record({ type: fc.constant("BEACON" as const), kind: fc.constantFrom(0 as const, 1 as const), socketType: arbSocketType }),
    fc.record({ type: fc.constantFrom("SUBSCRIBE" as const, "CANCEL" as const), topic: fc.uint8Array({ maxLength: 40 }) }),
  );

  it("round-trips any sequence of control commands", () => {
    fc.assert(
      fc.property(fc.array(arbControl, { maxLength: 6 }), fc.nat({ max: 0xffffffff }), (cmds, seq) => {
        const { sink, got } = collector();
        const h = decodeDatagram(encodeControlDatagram(7, seq, cmds), sink);
        expect(h.seq).toBe(seq);
        expect(got.controls).toEqual(cmds);
      }),
    );
  });

  it("validates socket types with the ZMTP compatibility table", () => {
    const table: Record<SocketType, SocketType[]> = {
      REQ: ["REP", "ROUTER"],
      REP: ["REQ", "DEALER"],
      DEALER: ["REP", "DEALER", "ROUTER"],
      ROUTER: ["REQ", "DEALER", "ROUTER"],
      PUB: ["SUB", "XSUB"],
      XPUB: ["SUB", "XSUB"],
      SUB: ["PUB", "XPUB"],
      XSUB: ["PUB", "XPUB"],
      PUSH: ["PULL"],
      PULL: ["PUSH"],
      PAIR: ["PAIR"],
    };
    for (const a of SOCKET_TYPES) {
      for (const b of SOCKET_TYPES) {
        expect(socketTypesCompatible(a, b), `${a}-${b}`).toBe(table[a].includes(b));
        expect(socketTypesCompatible(a, b)).toBe(socketTypesCompatible(b, a));
      }
    }
  });
});

describe("VXU decoder rejects crafted bad datagrams with a code", () => {
  const cases: [string, string, string, number?][] = [
    ["empty datagram", "", UDP_ERR.TRUNCATED],
    ["one octet", "56", UDP_ERR.TRUNCATED],
    ["wrong signature", "5659 01 00 00000000 00000000", UDP_ERR.BAD_SIGNATURE],
    ["ZMTP greeting", "ff00000000000000017f03", UDP_ERR.BAD_SIGNATURE],
    ["version 2", "5658 02 00 00000000 00000000", UDP_ERR.BAD_VERSION],
    ["version 0", "5658 00 00 00000000 00000000", UDP_ERR.BAD_VERSION],
    ["header cut short", "5658 01 00 000000", UDP_ERR.TRUNCATED],
    ["reserved flag bit", "5658 01 04 00000000 00000000", UDP_ERR.BAD_FLAGS],
    ["ack flag without ack block", "5658 01 02 00000000 00000000 0000", UDP_ERR.TRUNCATED],
    ["command header cut short", `${HDR()} 10 00`, UDP_ERR.TRUNCATED],
    ["command body past the end", `${HDR()} 10 0010 0000`, UDP_ERR.TRUNCATED],
    ["command length 0xffff", `${HDR()} 10 ffff 00`, UDP_ERR.TRUNCATED],
    ["unknown command type", `${HDR()} 7f 0000`, UDP_ERR.UNKNOWN_TYPE],
    ["type 0", `${HDR()} 00 0000`, UDP_ERR.UNKNOWN_TYPE],
    ["MESSAGE with no frame", `${HDR()} 10 0000`, UDP_ERR.BAD_LENGTH],
    ["frame longer than its command", `${HDR()} 10 0003 00 05 41`, UDP_ERR.BAD_LENGTH],
    ["long frame size cut short", `${HDR()} 10 0003 02 0000`, UDP_ERR.BAD_LENGTH],
    ["long frame size bogus", `${HDR()} 10 0006 02 ffffffff 41`, UDP_ERR.BAD_LENGTH],
    ["last frame has MORE", `${HDR()} 10 0003 01 01 41`, UDP_ERR.BAD_LENGTH],
    ["octets after the last frame", `${HDR()} 10 0004 00 01 41 42`, UDP_ERR.BAD_LENGTH],
    ["reserved frame flag", `${HDR()} 10 0003 04 01 41`, UDP_ERR.BAD_FLAGS],
    ["HELLO too short", `${HDR()} 01 0002 0500`, UDP_ERR.BAD_LENGTH],
    ["HELLO identity past its body", `${HDR()} 01 000b 05 00 04b0 0100 000003e8 02`, UDP_ERR.BAD_LENGTH],
    ["HELLO unknown socket type", `${HDR()} 01 000b 0b 00 04b0 0100 000003e8 00`, UDP_ERR.BAD_FIELD],
    ["HELLO reserved flags", `${HDR()} 01 000b 05 02 04b0 0100 000003e8 00`, UDP_ERR.BAD_FLAGS],
    ["HELLO max-datagram below 512", `${HDR()} 01 000b 05 00 01ff 0100 000003e8 00`, UDP_ERR.BAD_FIELD],
    ["HELLO window 0", `${HDR()} 01 000b 05 00 04b0 0000 000003e8 00`, UDP_ERR.BAD_FIELD],
    ["HELLO in a reliable datagram", `${HDR("01")} 01 000b 05 00 04b0 0100 000003e8 00`, UDP_ERR.BAD_CLASS],
    ["PING in a reliable datagram", `${HDR("01")} 04 0004 00000001`, UDP_ERR.BAD_CLASS],
    ["PING with 3 octets", `${HDR()} 04 0003 000001`, UDP_ERR.BAD_LENGTH],
    ["BYE with a body", `${HDR()} 06 0001 00`, UDP_ERR.BAD_LENGTH],
    ["REFUSE code 9", `${HDR()} 03 0006 09 00000000 00`, UDP_ERR.BAD_FIELD],
    ["REFUSE reason past its body", `${HDR()} 03 0006 01 00000000 05`, UDP_ERR.BAD_LENGTH],
    ["BEACON kind 2", `${HDR()} 07 0002 02 01`, UDP_ERR.BAD_FIELD],
    ["BEACON socket type 99", `${HDR()} 07 0002 00 63`, UDP_ERR.BAD_FIELD],
    ["FRAGMENT fields cut short", `${HDR()} 11 0004 00000000`, UDP_ERR.BAD_LENGTH],
    ["FRAGMENT count 0", `${HDR()} 11 0011 00000000 00000000 00000000 00000001 41`, UDP_ERR.BAD_FRAGMENT],
    ["FRAGMENT index >= count", `${HDR()} 11 0011 00000000 00000002 00000002 00000002 41`, UDP_ERR.BAD_FRAGMENT],
    ["FRAGMENT empty chunk", `${HDR()} 11 0010 00000000 00000000 00000002 00000002`, UDP_ERR.BAD_FRAGMENT],
    ["FRAGMENT sizes no S satisfies", `${HDR()} 11 0012 00000000 00000000 00000002 00000010 4142`, UDP_ERR.BAD_FRAGMENT],
    ["FRAGMENT last chunk longer than S", `${HDR()} 11 0013 00000000 00000001 00000002 00000004 414243`, UDP_ERR.BAD_FRAGMENT],
    ["FRAGMENT total over the max", `${HDR()} 11 0012 00000000 00000000 00000002 00000004 4142`, UDP_ERR.TOO_LARGE, 3],
    ["valid MESSAGE then garbage", `${HDR()} 10 0003 00 01 41 ee`, UDP_ERR.TRUNCATED],
  ];
  for (const [name, h, code, max] of cases) {
    it(`${name} → ${code}`, () => {
      const err = decodeError(bytes(h), max);
      expect(err.code).toBe(code);
      expect(err.offset).toBeGreaterThanOrEqual(0);
      expect(typeof err.state).toBe("string");
    });
  }

  it("never throws anything but a DecodeError on random bytes, with or without a valid header", () => {
    const header = bytes(HDR());
    fc.assert(
      fc.property(fc.boolean(), fc.uint8Array({ maxLength: 200 }), (withHeader, tail) => {
        const dg = withHeader ? new Uint8Array([...header, ...tail]) : tail;
        try {
          decodeDatagram(dg, { message() {}, fragment() {}, control() {} });
        } catch (err) {
          expect(err).toBeInstanceOf(DecodeError);
          expect(Object.values(UDP_ERR)).toContain((err as DecodeError).code);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("a valid datagram with any octet corrupted either decodes or fails with a code", () => {
    const room = encodeControlRoom([
      { type: "HELLO", socketType: "REQ", reliable: false, maxDatagram: 1200, window: 8, heartbeat: 0, identity: bytes("00") },
      { type: "PING", token: 1 },
    ]);
    const dg = sealDatagram(room, false, 1, 1, false);
    fc.assert(
      fc.property(fc.nat({ max: dg.length - 1 }), fc.nat({ max: 255 }), (at, v) => {
        const bad = dg.slice();
        bad[at] = v;
        try {
          decodeDatagram(bad, { message() {}, fragment() {}, control() {} });
        } catch (err) {
          expect(err).toBeInstanceOf(DecodeError);
        }
      }),
    );
  });
});
