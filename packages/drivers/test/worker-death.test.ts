/**
 * "Worker death must never corrupt the application" (issue 2).
 *
 * zeromq.js sends Buffers of more than 128 B zero-copy, and over inproc the
 * message itself travels: a message a driver's bridge delivered points into
 * the driver worker's heap until the application lets go of it. A worker
 * thread that exits under such messages has the application read freed
 * memory and later recycle each message into a dead zeromq.js module:
 * fixtures/worker-exit-hazard.mjs shows SIGSEGV, glibc aborts ("free():
 * invalid next size", "corrupted size vs. prev_size") and corrupted bytes in
 * every run. vtx's answer is that a crashing driver never takes its worker
 * down; these tests hold many such messages across 50 driver crashes and
 * then check every byte. A regression (a worker really exiting) fails them
 * by a corrupted byte, a hung wait, or the test process dying.
 */
import { createHash, randomBytes } from "node:crypto";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import * as zmq from "zeromq";
import { afterEach, describe, expect, it } from "vitest";
import type { Vtx, VtxEvent } from "@vtx/runtime";
import { testTransports, vtxWith, within } from "./helpers.js";

const KIB = 1024;
const MIB = 1024 * 1024;
const CRASHES = 50;
/** Per crash and per sender: this many 1 KiB messages; plus one 1 MiB message per crash. */
const SMALL_PER_ROUND = 8;
const HOWS = ["throw", "exit", "reject"] as const;

/** `gc()` without `--expose-gc` on the command line (flag set at run time, function taken from a fresh context). */
function findGc(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === "function") return g;
  try {
    setFlagsFromString("--expose-gc");
    const fromContext = runInNewContext("gc") as unknown;
    return typeof fromContext === "function" ? (fromContext as () => void) : undefined;
  } catch {
    return undefined;
  }
}

interface Held {
  seq: number;
  body: Buffer;
  sha256: string;
  length: number;
}

function sha256(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}

for (const t of testTransports("ztcp")) {
  describe(`${t.scheme}: worker death never corrupts the application`, () => {
    let vtx: Vtx | undefined;
    const natives: zmq.Push[] = [];
    afterEach(async () => {
      for (const n of natives.splice(0)) n.close();
      await vtx?.destroy();
    });

    async function holdAcrossCrashes(gc: (() => void) | undefined, poolSize: number): Promise<{ held: Held[]; restarts: number }> {
      // With 2 workers a restart may land in the other one: both stay alive.
      vtx = vtxWith(t, { restartIntensity: 1000, restartPeriod: 60_000, poolSize });
      const v = vtx;
      let restarts = 0;
      v.on((e: VtxEvent) => {
        if (e.type === "driver-restarted") restarts++;
      });
      // The senders are native sockets on this thread: the driver worker
      // decodes their frames and its bridges hand them to `pull` zero-copy,
      // one through a bind-side bridge (per accepted peer), one through a
      // connect-side bridge (per endpoint).
      const pull = v.socket("PULL");
      const ep = await v.bind(pull, t.bindEndpoint());
      const toBound = new zmq.Push({ linger: 0, reconnectInterval: 20, reconnectMaxInterval: 100 });
      natives.push(toBound);
      toBound.connect(t.native!(ep));
      const dialed = new zmq.Push({ linger: 0 });
      natives.push(dialed);
      await dialed.bind("tcp://127.0.0.1:*");
      const dialedEp = dialed.lastEndpoint!.replace(/^tcp:/, `${t.scheme}:`);
      await v.connect(pull, dialedEp, { reconnectInterval: 20, reconnectIntervalMax: 100 });

      const expected = new Map<number, { sha256: string; length: number }>();
      const held: Held[] = [];
      let seq = 0;
      for (let round = 0; round < CRASHES; round++) {
        // The 1 MiB message comes through either bridge, in turn.
        const plan: Array<[zmq.Push, number]> = [
          ...Array.from({ length: SMALL_PER_ROUND }, (): [zmq.Push, number] => [toBound, KIB]),
          ...Array.from({ length: SMALL_PER_ROUND }, (): [zmq.Push, number] => [dialed, KIB]),
          [round % 2 === 0 ? toBound : dialed, MIB],
        ];
        const receiving = (async () => {
          for (let i = 0; i < plan.length; i++) {
            const [s, body] = await pull.receive();
            const n = Number(s!.toString());
            const want = expected.get(n);
            if (!want || !body) throw new Error(`unexpected message ${String(s)}`);
            // Keep the received Buffer itself (no copy): that is what must stay intact.
            held.push({ seq: n, body, sha256: want.sha256, length: want.length });
          }
        })();
        for (const [sender, size] of plan) {
          const body = randomBytes(size);
          expected.set(seq, { sha256: sha256(body), length: size });
          await sender.send([String(seq), body]);
          seq++;
        }
        await within(receiving, 10_000, `round ${round}: the app receiving its messages`);

        const how = HOWS[round % HOWS.length]!;
        // Wait for the restart and for both links to be back: what libzmq
        // writes to a connection in the instant before it notices the close
        // is lost, as with any tcp peer going away.
        let off = (): void => undefined;
        const back = new Promise<void>((resolve) => {
          let restarted = false;
          const up = new Set<string | undefined>();
          off = v.on((e) => {
            if (e.type === "driver-restarted") restarted = true;
            else if (restarted && e.type === "connected") {
              up.add(e.endpoint);
              if (up.size === 2) resolve();
            }
          });
        });
        v.crashDriver(t.scheme, how);
        await within(back, 6000, `round ${round}: the driver restarting after "${how}" and both links reconnecting`).finally(off);
        if (gc) {
          // Pressure: collect, and churn memory so anything freed gets reused.
          gc();
          const churn: Buffer[] = [];
          for (let i = 0; i < 64; i++) churn.push(Buffer.alloc(KIB * (1 + (i % 32)), 0xee));
          churn.length = 0;
        }
      }
      return { held, restarts };
    }

    function verify(held: Held[]): void {
      let corrupted = 0;
      const bad: number[] = [];
      for (const h of held) {
        if (h.body.length !== h.length || sha256(h.body) !== h.sha256) {
          corrupted++;
          if (bad.length < 10) bad.push(h.seq);
        }
      }
      expect({ corrupted, firstBad: bad }).toEqual({ corrupted: 0, firstBad: [] });
    }

    it(`the app holds 1 KiB and 1 MiB messages from the driver across ${CRASHES} crashes; every byte intact`, async () => {
      const { held, restarts } = await holdAcrossCrashes(undefined, 1);
      expect(restarts).toBe(CRASHES);
      expect(held).toHaveLength(CRASHES * (2 * SMALL_PER_ROUND + 1));
      verify(held);
    });

    it(`the same with 2 workers and garbage-collector pressure (gc after every crash, then the messages are released)`, async () => {
      const gc = findGc();
      if (!gc) console.warn("gc() unavailable: running without collector pressure");
      const { held, restarts } = await holdAcrossCrashes(gc, 2);
      expect(restarts).toBe(CRASHES);
      verify(held);
      // Let go of everything and collect: each message is now released back to
      // the zeromq.js module of the worker that sent it, which must be alive.
      held.length = 0;
      for (let i = 0; i < 5 && gc; i++) {
        gc();
        await new Promise((resolve) => setImmediate(resolve));
      }
      // Still a working process and a working driver after all that.
      const pull = vtx!.socket("PULL");
      const ep = await vtx!.bind(pull, t.bindEndpoint());
      const p = new zmq.Push({ linger: 0 });
      try {
        p.connect(t.native!(ep));
        const body = randomBytes(MIB);
        await p.send(body);
        const [got] = await within(pull.receive(), 5000, "a message after the releases");
        expect(got!.equals(body)).toBe(true);
      } finally {
        p.close();
      }
    });
  });
}
