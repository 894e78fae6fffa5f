import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DecodeError } from "../../src/errors.js";
import { decodeMetadata, encodeMetadata, getProperty } from "../../src/zmtp/index.js";

function metadataError(bytes: Uint8Array, offset = 0): DecodeError {
  try {
    decodeMetadata(bytes, offset);
  } catch (err) {
    expect(err).toBeInstanceOf(DecodeError);
    return err as DecodeError;
  }
  throw new Error("expected a DecodeError");
}

describe("ZMTP metadata", () => {
  it("encodes name-size, name, 4-byte value size, value", () => {
    expect(encodeMetadata([["Socket-Type", "REQ"]])).toEqual(Buffer.from("\x0bSocket-Type\x00\x00\x00\x03REQ", "latin1"));
    expect(encodeMetadata([])).toEqual(Buffer.alloc(0));
  });

  it("decodes values as copies that outlive the command buffer", () => {
    const bytes = encodeMetadata([["Identity", Buffer.from([1, 2, 3])]]);
    const props = decodeMetadata(bytes);
    bytes.fill(0);
    expect(props.get("Identity")).toEqual(Buffer.from([1, 2, 3]));
  });

  it("looks names up case-insensitively", () => {
    const props = decodeMetadata(encodeMetadata([["socket-type", "PUB"]]));
    expect(getProperty(props, "Socket-Type")?.toString()).toBe("PUB");
    expect(getProperty(props, "Identity")).toBeUndefined();
  });

  it("refuses a value size overflowing the command (metadata overflow) with its offset", () => {
    const bytes = Buffer.from("\x0bSocket-Type\x00\x00\x00\x09REQ", "latin1");
    const err = metadataError(bytes, 50);
    expect(err.code).toBe("ZMTP_MALFORMED_METADATA");
    expect(err.offset).toBe(50 + 12);
    expect(err.state).toBe("metadata-value");
    // 2^32-1 announced: refused without trusting it
    expect(metadataError(Buffer.from("\x01X\xff\xff\xff\xff", "latin1")).code).toBe("ZMTP_MALFORMED_METADATA");
  });

  it("refuses an empty name, a name overflowing the command, and a truncated value size", () => {
    expect(metadataError(Buffer.from("\x00\x00\x00\x00\x00", "latin1")).code).toBe("ZMTP_MALFORMED_METADATA");
    expect(metadataError(Buffer.from("\x20Socket", "latin1")).code).toBe("ZMTP_MALFORMED_METADATA");
    expect(metadataError(Buffer.from("\x01X\x00\x00", "latin1")).state).toBe("metadata-name");
  });

  it("refuses to encode invalid names", () => {
    expect(() => encodeMetadata([["", "x"]])).toThrow(TypeError);
    expect(() => encodeMetadata([["X:bad", "x"]])).toThrow(TypeError);
    expect(() => encodeMetadata([["X".repeat(256), "x"]])).toThrow(TypeError);
  });

  it("round-trips any property list", () => {
    const nameArb = fc.stringMatching(/^[A-Za-z0-9_.+-]{1,255}$/);
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(nameArb, fc.uint8Array({ maxLength: 300 })), { selector: (t) => t[0], maxLength: 8 }), (props) => {
        const decoded = decodeMetadata(encodeMetadata(props));
        expect([...decoded].map(([k, v]) => [k, v.toString("hex")])).toEqual(props.map(([k, v]) => [k, Buffer.from(v).toString("hex")]));
      }),
    );
  });
});
