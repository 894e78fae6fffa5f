import type { DecodeError } from "../../../src/errors.js";
import { FrameDecoder, type FrameDecoderOptions } from "../../../src/zmtp/index.js";

export type Decoded = { kind: "message"; frames: Buffer[] } | { kind: "command"; body: Buffer; offset: number };

/** A FrameDecoder that records what it emits. */
export function recordingDecoder(options?: FrameDecoderOptions): { decoder: FrameDecoder; out: Decoded[]; errors: DecodeError[] } {
  const out: Decoded[] = [];
  const errors: DecodeError[] = [];
  const decoder = new FrameDecoder(
    {
      message: (frames) => out.push({ kind: "message", frames }),
      command: (body, offset) => out.push({ kind: "command", body, offset }),
      error: (err) => errors.push(err),
    },
    options,
  );
  return { decoder, out, errors };
}

/** Pushes `bytes` cut at the given (sorted or not) positions; every piece is a fresh copy, as a socket would deliver. */
export function pushSplit(decoder: { push(c: Uint8Array): void }, bytes: Uint8Array, cuts: readonly number[]): void {
  const points = [...new Set(cuts.map((c) => Math.max(0, Math.min(bytes.length, c))))].sort((a, b) => a - b);
  let at = 0;
  for (const p of [...points, bytes.length]) {
    if (p > at) decoder.push(Buffer.from(bytes.subarray(at, p)));
    at = p;
  }
}

export function pushBytewise(decoder: { push(c: Uint8Array): void }, bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) decoder.push(Buffer.from(bytes.subarray(i, i + 1)));
}
