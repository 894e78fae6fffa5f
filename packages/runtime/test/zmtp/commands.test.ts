import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DecodeError } from "../../src/errors.js";
import {
  decodeError,
  decodeHello,
  decodePing,
  decodePong,
  encodeCancel,
  encodeCommandBody,
  encodeCommandFrame,
  encodeError,
  encodeHello,
  encodeInitiate,
  encodeLibzmqPlainError,
  encodePing,
  encodePong,
  encodeReady,
  encodeSubscribe,
  encodeWelcome,
  parseCommand,
} from "../../src/zmtp/index.js";
import { pushBytewise, recordingDecoder } from "./helpers/frames.js";

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DecodeError);
    return (err as DecodeError).code;
  }
  throw new Error("expected a DecodeError");
}

describe("ZMTP commands", () => {
  it("parses name and data of a command decoded one byte at a time", () => {
    const { decoder, out } = recordingDecoder();
    pushBytewise(decoder, encodeCommandFrame(encodeSubscribe(Buffer.from("topic"))));
    const body = out[0]?.kind === "command" ? out[0].body : Buffer.alloc(0);
    const cmd = parseCommand(body);
    expect(cmd.name).toBe("SUBSCRIBE");
    expect(cmd.data.toString()).toBe("topic");
  });

  it("encodes the RFC 37 wire forms", () => {
    expect(encodeReady(Buffer.alloc(0))).toEqual(Buffer.from("\x05READY", "latin1"));
    expect(encodeError("bad")).toEqual(Buffer.from("\x05ERROR\x03bad", "latin1"));
    expect(encodeSubscribe(Buffer.from("a"))).toEqual(Buffer.from("\x09SUBSCRIBEa", "latin1"));
    expect(encodeCancel(Buffer.from("a"))).toEqual(Buffer.from("\x06CANCELa", "latin1"));
    expect(encodePing(300, Buffer.from("ctx"))).toEqual(Buffer.from("\x04PING\x01\x2cctx", "latin1"));
    expect(encodePong(Buffer.from("ctx"))).toEqual(Buffer.from("\x04PONGctx", "latin1"));
    expect(encodeHello("u", "pw")).toEqual(Buffer.from("\x05HELLO\x01u\x02pw", "latin1"));
    expect(encodeWelcome()).toEqual(Buffer.from("\x07WELCOME", "latin1"));
    expect(encodeInitiate(Buffer.alloc(0))).toEqual(Buffer.from("\x08INITIATE", "latin1"));
  });

  it("refuses a command name size of 0, one overflowing the frame, or non-letters", () => {
    expect(codeOf(() => parseCommand(Buffer.alloc(0)))).toBe("ZMTP_MALFORMED_COMMAND");
    expect(codeOf(() => parseCommand(Buffer.from("\x00READY", "latin1")))).toBe("ZMTP_MALFORMED_COMMAND");
    expect(codeOf(() => parseCommand(Buffer.from("\x06READY", "latin1")))).toBe("ZMTP_MALFORMED_COMMAND");
    expect(codeOf(() => parseCommand(Buffer.from("\xffPING", "latin1")))).toBe("ZMTP_MALFORMED_COMMAND");
    expect(codeOf(() => parseCommand(Buffer.from("\x05RE4DY", "latin1")))).toBe("ZMTP_MALFORMED_COMMAND");
  });

  it("reports the stream offset of a malformed command", () => {
    try {
      parseCommand(Buffer.from("\x09PING", "latin1"), 100);
      expect.fail("should throw");
    } catch (err) {
      expect((err as DecodeError).offset).toBe(100);
      expect((err as DecodeError).state).toBe("command-name");
    }
  });

  it("refuses malformed PING, PONG, ERROR and HELLO data", () => {
    expect(codeOf(() => decodePing(Buffer.from([1])))).toBe("ZMTP_MALFORMED_COMMAND");
    expect(codeOf(() => decodePing(Buffer.alloc(2 + 17)))).toBe("ZMTP_MALFORMED_COMMAND");
    expect(codeOf(() => decodePong(Buffer.alloc(17)))).toBe("ZMTP_MALFORMED_COMMAND");
    expect(codeOf(() => decodeError(Buffer.alloc(0)))).toBe("ZMTP_MALFORMED_COMMAND");
    expect(codeOf(() => decodeError(Buffer.from("\x05abc", "latin1")))).toBe("ZMTP_MALFORMED_COMMAND");
    expect(codeOf(() => decodeHello(Buffer.from("\x05ab", "latin1")))).toBe("ZMTP_MALFORMED_COMMAND");
    expect(codeOf(() => decodeHello(Buffer.from("\x01a\x05pw", "latin1")))).toBe("ZMTP_MALFORMED_COMMAND");
    expect(codeOf(() => decodeHello(Buffer.from("\x01a", "latin1")))).toBe("ZMTP_MALFORMED_COMMAND");
  });

  it("reads libzmq 4.3's malformed PLAIN ERROR (0x5E \"RROR\", from its \"\\x05ERROR\" C literal) as ERROR", () => {
    const wire = Buffer.from("5e52524f5203343030", "hex"); // captured from libzmq 4.3.5
    const cmd = parseCommand(wire, 70);
    expect(cmd.name).toBe("ERROR");
    expect(decodeError(cmd.data)).toBe("400");
    expect(encodeLibzmqPlainError("400")).toEqual(wire);
    // Only that exact shape: a reason size that does not match stays malformed.
    expect(codeOf(() => parseCommand(Buffer.from("5e52524f5209343030", "hex")))).toBe("ZMTP_MALFORMED_COMMAND");
  });

  it("cuts an ERROR reason to 255 bytes", () => {
    const cmd = parseCommand(encodeError("x".repeat(400)));
    expect(decodeError(cmd.data)).toBe("x".repeat(255));
  });

  it("refuses to encode PING/PONG with a context over 16 bytes or a TTL out of range", () => {
    expect(() => encodePing(0, new Uint8Array(17))).toThrow(TypeError);
    expect(() => encodePing(65536)).toThrow(TypeError);
    expect(() => encodePong(new Uint8Array(17))).toThrow(TypeError);
  });

  it("round-trips command names and data", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z]{1,255}$/), fc.uint8Array({ maxLength: 600 }), (name, data) => {
        const cmd = parseCommand(encodeCommandBody(name, data));
        expect(cmd.name).toBe(name);
        expect(Buffer.from(cmd.data)).toEqual(Buffer.from(data));
      }),
    );
  });

  it("round-trips PING, PONG, ERROR, SUBSCRIBE, CANCEL and HELLO", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 65535 }),
        fc.uint8Array({ maxLength: 16 }),
        fc.string({ maxLength: 80 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 255 }),
        fc.uint8Array({ maxLength: 255 }),
        (ttl, ctx, reason, topic, user, pass) => {
          const ping = parseCommand(encodePing(ttl, ctx));
          expect(ping.name).toBe("PING");
          expect(decodePing(ping.data)).toEqual({ ttl, context: Buffer.from(ctx) });
          expect(decodePong(parseCommand(encodePong(ctx)).data)).toEqual(Buffer.from(ctx));
          const err = parseCommand(encodeError(reason));
          if (Buffer.byteLength(reason) <= 255) expect(decodeError(err.data)).toBe(reason);
          expect(parseCommand(encodeSubscribe(topic)).data).toEqual(Buffer.from(topic));
          expect(parseCommand(encodeCancel(topic)).name).toBe("CANCEL");
          const hello = decodeHello(parseCommand(encodeHello(user, pass)).data);
          expect(hello).toEqual({ username: Buffer.from(user), password: Buffer.from(pass) });
        },
      ),
    );
  });
});
