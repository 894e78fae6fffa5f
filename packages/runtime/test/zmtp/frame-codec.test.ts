import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  FLAG_COMMAND,
  FLAG_MORE,
  FrameDecoder,
  encodeCommandFrame,
  encodeFrame,
  encodeMessage,
  encodeMessageChunks,
  encodeMessageInto,
  encodedMessageSize,
} from "../../src/zmtp/index.js";
import { pushBytewise, pushSplit, recordingDecoder } from "./helpers/frames.js";

const frameArb = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 250, maxLength: 300 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 2000 }) },
);
const messageArb = fc.array(frameArb, { minLength: 1, maxLength: 5 });

const hex = (frames: Uint8Array[]): string[] => frames.map((f) => Buffer.from(f).toString("hex"));

describe("ZMTP frame encoder", () => {
  it("uses a short header up to 255 bytes and a long one above, MORE on all frames but the last", () => {
    const small = new Uint8Array(255);
    const large = new Uint8Array(256);
    const out = encodeMessage([small, large]);
    expect(out.length).toBe(2 + 255 + 9 + 256);
    expect([out[0], out[1]]).toEqual([FLAG_MORE, 255]);
    const l = 2 + 255;
    expect(out[l]).toBe(0x02); // LONG, no MORE
    expect(out.readBigUInt64BE(l + 1)).toBe(256n);
    expect(encodedMessageSize([small, large])).toBe(out.length);
  });

  it("encodes an empty frame and commands", () => {
    expect([...encodeMessage([new Uint8Array(0)])]).toEqual([0, 0]);
    expect([...encodeCommandFrame(Uint8Array.of(4, 0x50, 0x49, 0x4e, 0x47, 0, 0))].slice(0, 2)).toEqual([FLAG_COMMAND, 7]);
    expect(encodeFrame(FLAG_MORE, new Uint8Array(300))[0]).toBe(FLAG_MORE | 0x02);
  });

  it("encodeMessageInto writes at an offset and returns the end", () => {
    const target = Buffer.alloc(20, 0xee);
    const end = encodeMessageInto([Buffer.from("ab"), Buffer.from("c")], target, 3);
    expect(end).toBe(3 + 4 + 3);
    expect(target.subarray(3, end)).toEqual(Buffer.from([1, 2, 0x61, 0x62, 0, 1, 0x63]));
    expect(target[2]).toBe(0xee);
  });

  it("encodeMessageChunks keeps big bodies by reference and concatenates to encodeMessage's bytes", () => {
    const big = Buffer.alloc(100_000, 7);
    const frames = [Buffer.from("id"), Buffer.alloc(0), big, Buffer.from("tail")];
    const chunks = encodeMessageChunks(frames, 32 * 1024);
    expect(chunks).toContain(big);
    expect(chunks.length).toBe(3);
    expect(Buffer.concat(chunks)).toEqual(encodeMessage(frames));
  });

  it("encodeMessageChunks equals encodeMessage for any message and threshold", () => {
    fc.assert(
      fc.property(messageArb, fc.integer({ min: 0, max: 400 }), (frames, threshold) => {
        expect(Buffer.concat(encodeMessageChunks(frames, threshold))).toEqual(encodeMessage(frames));
      }),
    );
  });
});

describe("ZMTP frame decoder", () => {
  it("decodes messages and commands fed one byte at a time", () => {
    const bytes = Buffer.concat([
      encodeMessage([Buffer.from("hello")]),
      encodeCommandFrame(Buffer.from("\x04PING\x00\x0a")),
      encodeMessage([Buffer.alloc(0), Buffer.alloc(300, 1), Buffer.from("x")]),
    ]);
    const { decoder, out, errors } = recordingDecoder();
    pushBytewise(decoder, bytes);
    expect(errors).toEqual([]);
    expect(out.map((o) => o.kind)).toEqual(["message", "command", "message"]);
    expect(out[0]).toEqual({ kind: "message", frames: [Buffer.from("hello")] });
    expect(out[1]).toMatchObject({ kind: "command", body: Buffer.from("\x04PING\x00\x0a"), offset: 7 + 2 });
    expect(out[2]?.kind === "message" && hex(out[2].frames)).toEqual(hex([Buffer.alloc(0), Buffer.alloc(300, 1), Buffer.from("x")]));
    expect(decoder.idle).toBe(true);
  });

  it("hands out frames inside the pushed chunk as views of it, and copies only frames that span chunks", () => {
    const bytes = encodeMessage([Buffer.from("abc"), Buffer.alloc(1000, 2)]);
    const { decoder, out } = recordingDecoder();
    // Own ArrayBuffers (not Node's shared pool) so "same memory" is observable.
    const own = (b: Uint8Array): Buffer => Buffer.from(new Uint8Array(b).buffer);
    const first = own(bytes.subarray(0, 600));
    const second = own(bytes.subarray(600));
    decoder.push(first);
    decoder.push(second);
    const frames = out[0]?.kind === "message" ? out[0].frames : [];
    expect(frames[0]!.buffer).toBe(first.buffer); // zero-copy view
    expect(frames[0]!.byteOffset).toBe(first.byteOffset + 2);
    expect(frames[1]!.buffer).not.toBe(first.buffer); // spanning frame: one exact-size copy
    expect(frames[1]!.buffer).not.toBe(second.buffer);
    expect(frames[1]!.length).toBe(1000);
    expect(frames[1]!.every((b) => b === 2)).toBe(true);
  });

  it("accepts a long header announcing a small body", () => {
    const bytes = Buffer.from([0x02, 0, 0, 0, 0, 0, 0, 0, 3, 0x61, 0x62, 0x63]);
    const { decoder, out, errors } = recordingDecoder();
    pushBytewise(decoder, bytes);
    expect(errors).toEqual([]);
    expect(out).toEqual([{ kind: "message", frames: [Buffer.from("abc")] }]);
  });

  it("refuses a frame announcing 2^62 bytes on its header alone, before any body byte arrives", () => {
    const header = Buffer.from([0x02, 0x40, 0, 0, 0, 0, 0, 0, 0]);
    for (const feed of [(d: { push(c: Uint8Array): void }) => d.push(header), (d: { push(c: Uint8Array): void }) => pushBytewise(d, header)]) {
      const { decoder, out, errors } = recordingDecoder({ maxMessageSize: 1 << 20, offset: 64 });
      feed(decoder);
      expect(out).toEqual([]);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.code).toBe("ZMTP_MESSAGE_TOO_LARGE");
      expect(errors[0]!.offset).toBe(64);
      expect(errors[0]!.state).toBe("size");
      expect(decoder.stopped).toBe(true);
    }
  });

  it("bounds the whole multipart message, not each frame", () => {
    const { decoder, out, errors } = recordingDecoder({ maxMessageSize: 100 });
    decoder.push(encodeMessage([Buffer.alloc(60), Buffer.alloc(60)]));
    expect(out).toEqual([]);
    expect(errors[0]?.code).toBe("ZMTP_MESSAGE_TOO_LARGE");
    expect(errors[0]?.offset).toBe(62);
    const ok = recordingDecoder({ maxMessageSize: 100 });
    ok.decoder.push(encodeMessage([Buffer.alloc(50), Buffer.alloc(50)]));
    ok.decoder.push(encodeMessage([Buffer.alloc(100)]));
    expect(ok.errors).toEqual([]);
    expect(ok.out).toHaveLength(2);
  });

  it("bounds commands separately", () => {
    const { decoder, errors } = recordingDecoder({ maxMessageSize: 1000, maxCommandSize: 10 });
    decoder.push(encodeCommandFrame(Buffer.alloc(11, 0x41)));
    expect(errors[0]?.code).toBe("ZMTP_MESSAGE_TOO_LARGE");
    expect(errors[0]?.state).toBe("size");
  });

  it("refuses reserved flag bits and a command with MORE", () => {
    for (const flags of [0x08, 0x80, FLAG_COMMAND | FLAG_MORE]) {
      const { decoder, errors } = recordingDecoder({ offset: 10 });
      decoder.push(Buffer.concat([encodeMessage([Buffer.from("ok")]), Buffer.from([flags, 1, 0x41])]));
      expect(errors[0]?.code).toBe("ZMTP_MALFORMED_FRAME");
      expect(errors[0]?.offset).toBe(14);
      expect(errors[0]?.state).toBe("flags");
    }
  });

  it("ignores everything pushed after an error", () => {
    const { decoder, out, errors } = recordingDecoder();
    decoder.push(Buffer.from([0x80, 0]));
    decoder.push(encodeMessage([Buffer.from("late")]));
    expect(errors).toHaveLength(1);
    expect(out).toEqual([]);
  });

  it("delivers a command that arrives between frames of a multipart message without breaking the message", () => {
    const bytes = Buffer.concat([
      encodeFrame(FLAG_MORE, Buffer.from("part1")),
      encodeCommandFrame(Buffer.from("\x04PING\x00\x00")),
      encodeFrame(0, Buffer.from("part2")),
    ]);
    const { decoder, out } = recordingDecoder();
    pushBytewise(decoder, bytes);
    expect(out.map((o) => o.kind)).toEqual(["command", "message"]);
    expect(out[1]).toEqual({ kind: "message", frames: [Buffer.from("part1"), Buffer.from("part2")] });
  });

  it("pauses after the current frame and resumes with the rest of the chunk and later pushes, in order", () => {
    const frames: string[] = [];
    let pauseNext = true;
    const d: FrameDecoder = new FrameDecoder({
      message: (f) => {
        frames.push(f[0]!.toString());
        if (pauseNext) {
          pauseNext = false;
          d.pause();
        }
      },
      command: () => undefined,
      error: (e) => {
        throw e;
      },
    });
    d.push(Buffer.concat([encodeMessage([Buffer.from("a")]), encodeMessage([Buffer.from("b")])]));
    d.push(encodeMessage([Buffer.from("c")]));
    expect(frames).toEqual(["a"]);
    expect(d.paused).toBe(true);
    d.resume();
    expect(frames).toEqual(["a", "b", "c"]);
    expect(d.offset).toBe(9);
  });

  it("round-trips any sequence of messages and commands across any chunking", () => {
    const itemArb = fc.oneof(
      messageArb.map((frames) => ({ kind: "message" as const, frames })),
      fc.uint8Array({ minLength: 1, maxLength: 300 }).map((body) => ({ kind: "command" as const, body })),
    );
    fc.assert(
      fc.property(fc.array(itemArb, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 10 }), (items, cuts) => {
        const bytes = Buffer.concat(items.map((i) => (i.kind === "message" ? encodeMessage(i.frames) : encodeCommandFrame(i.body))));
        const { decoder, out, errors } = recordingDecoder();
        pushSplit(decoder, bytes, cuts.map((c) => c % (bytes.length + 1)));
        expect(errors).toEqual([]);
        expect(out.length).toBe(items.length);
        items.forEach((item, n) => {
          const got = out[n]!;
          expect(got.kind).toBe(item.kind);
          if (item.kind === "message" && got.kind === "message") expect(hex(got.frames)).toEqual(hex(item.frames));
          if (item.kind === "command" && got.kind === "command") expect(got.body.toString("hex")).toBe(Buffer.from(item.body).toString("hex"));
        });
        expect(decoder.offset).toBe(bytes.length);
      }),
      { numRuns: 300 },
    );
  });
});
