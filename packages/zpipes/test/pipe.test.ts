/**
 * The pipe's flow control in isolation (no sockets): whatever the budget,
 * chunk sizes and READ sizes, a writer and a reader that follow the broker's
 * rules always finish, the reader gets every byte in order, and the pipe
 * never holds more than max(budget, wanted) + one chunk.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Pipe, type PipeEnd } from "../src/broker/pipe.js";
import { PipeRegistry } from "../src/broker/pipe-registry.js";

const end = (label: string): PipeEnd => ({ label, pipeChanged() {} });

describe("Pipe flow control", () => {
  it("never deadlocks and delivers every byte in order, within its memory bound", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.integer({ min: 0, max: 100 }), { maxLength: 30 }),
        fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 10 }),
        (budget, chunkSizes, readSizes) => {
          const pipe = new Pipe("p", { budget });
          pipe.attachReader(end("r"));
          pipe.attachWriter(end("w"));
          let counter = 0;
          const chunks = chunkSizes.map((n) => Buffer.from(Array.from({ length: n }, () => counter++ & 0xff)));
          const total = counter;
          const got: Buffer[] = [];
          let w = 0;
          let r = 0;
          let ended = false;
          let maxChunk = 0;
          let wantedNow = 0;
          for (let step = 0; step < 10_000 && !ended; step++) {
            let progressed = false;
            // Writer: push the next chunk if the pipe takes it; close after the last.
            const next = chunks[w];
            if (next !== undefined && pipe.canAccept(next.length)) {
              pipe.push(next);
              maxChunk = Math.max(maxChunk, next.length);
              w++;
              progressed = true;
            } else if (next === undefined && pipe.writerState === "attached") {
              pipe.detachWriter();
              progressed = true;
            }
            // Reader: one READ of the next size, served as the session serves it.
            const size = readSizes[r % readSizes.length] as number;
            if (pipe.queued >= size) {
              pipe.setWanted(0);
              wantedNow = 0;
              got.push(pipe.take(size));
              r++;
              progressed = true;
            } else if (pipe.writerState === "gone") {
              if (pipe.queued > 0) got.push(pipe.take(pipe.queued));
              else ended = true;
              progressed = true;
            } else if (wantedNow !== size) {
              pipe.setWanted(size);
              wantedNow = size;
              progressed = true;
            }
            const wanted = pipe.queued < size ? size : 0;
            expect(pipe.queued).toBeLessThanOrEqual(Math.max(budget, wanted) + maxChunk);
            if (!progressed) throw new Error(`deadlock: queued ${pipe.queued}, next chunk ${next?.length}, read ${size}`);
          }
          expect(ended).toBe(true);
          const all = Buffer.concat(got);
          expect(all.length).toBe(total);
          expect(all.equals(Buffer.concat(chunks))).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("builds READ_OK in place over a WRITE frame's header, and copies when it must", () => {
    const frame = Buffer.from("aaa00c0000000568656c6c6f00000000", "hex"); // WRITE "hello" timeout 0
    const pipe = new Pipe("p", { budget: 100 });
    pipe.attachReader(end("r"));
    pipe.push(frame.subarray(7, 12), true);
    const out = pipe.takeReadOk(3);
    expect(out.toString("hex")).toBe("aaa00800000003" + Buffer.from("hel").toString("hex"));
    const rest = pipe.takeReadOk(5);
    expect(rest.toString("hex")).toBe("aaa00800000002" + Buffer.from("lo").toString("hex"));
    frame.fill(0);
    expect(out.every((b) => b === 0)).toBe(true); // it was the WRITE frame's own memory
    expect(rest.toString("hex")).toBe("aaa00800000002" + Buffer.from("lo").toString("hex")); // a copy: the bytes before it were in flight
  });
});

describe("READ_OK as pieces (direct transports)", () => {
  it("gives the same bytes as takeReadOk, views of the queued chunks and no copy", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 120 }), { minLength: 1, maxLength: 12 }),
        (chunkSizes, readSizes) => {
          let counter = 0;
          const chunks = chunkSizes.map((n) => Buffer.from(Array.from({ length: n }, () => counter++ & 0xff)));
          const a = new Pipe("a", { budget: 1 << 20 });
          const b = new Pipe("b", { budget: 1 << 20 });
          for (const p of [a, b]) p.attachReader(end("r"));
          for (const c of chunks) {
            a.push(c);
            b.push(c);
          }
          for (const n of readSizes) {
            if (a.queued === 0) break;
            const whole = a.takeReadOk(n);
            const parts = b.takeReadOkParts(n);
            expect(Buffer.concat(parts).equals(whole)).toBe(true);
            expect(b.queued).toBe(a.queued);
            if (parts.length > 1) {
              // Header, then views into the pushed chunks' own memory.
              expect(parts[0]!.length).toBe(7);
              for (const v of parts.slice(1)) expect(chunks.some((c) => c.buffer === v.buffer && v.byteOffset >= c.byteOffset && v.byteOffset + v.length <= c.byteOffset + c.length)).toBe(true);
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("PipeRegistry (the cluster seam)", () => {
  it("emits attach and detach events and drops a pipe from the table when an end leaves", () => {
    const reg = new PipeRegistry({ budget: 10 });
    const events: string[] = [];
    for (const ev of ["reader-attached", "writer-attached", "reader-detached", "writer-detached", "pipe-removed"] as const) {
      reg.on(ev, (p: Pipe) => events.push(`${ev}:${p.name}`));
    }
    const a = reg.openWriter("x", end("w"));
    expect(a.ok).toBe(true);
    expect(reg.openWriter("x", end("w2"))).toEqual({ ok: false, reason: "pipe 'x' already has a writer" });
    const b = reg.openReader("x", end("r"));
    expect(b.ok && a.ok && b.pipe === a.pipe).toBe(true);
    if (!a.ok) return;
    a.pipe.failWriter("peer lost");
    expect(a.pipe.writerFailure).toBe("peer lost");
    expect(reg.get("x")).toBeUndefined();
    expect(reg.openWriter("x", end("w3")).ok).toBe(true);
    expect(reg.get("x")).not.toBe(a.pipe);
    expect(events).toEqual(["writer-attached:x", "reader-attached:x", "pipe-removed:x", "writer-detached:x", "writer-attached:x"]);
  });
});
