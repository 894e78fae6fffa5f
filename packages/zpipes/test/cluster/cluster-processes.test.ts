import { afterEach, describe, expect, it } from "vitest";
import { BLOCK } from "./support/stream-pattern.js";
import { loopbackBeaconArgs, Proc, READER, startBroker, WRITER, type BrokerProc } from "./support/procs.js";

// Two `zbroker --gossip` processes on loopback, a writer process on one and a
// reader process on the other: the stream crosses the brokers over ZRE.
const MiB = 1024 * 1024;
const procs: Proc[] = [];
afterEach((ctx) => {
  const failed = ctx.task.result?.state === "fail";
  for (const p of procs.splice(0)) {
    // A failure shows every process's last words, not only the one waited on.
    if (failed) console.error(`--- ${p.label} (exit ${p.proc.exitCode ?? p.proc.signalCode ?? "running"}):\n${p.raw.slice(-25).join("\n")}`);
    p.kill();
  }
});

const tag = `zc${process.pid}`;
let n = 0;

async function brokers(extra: string[] = []): Promise<[BrokerProc, BrokerProc]> {
  const id = `${tag}-${n++}`;
  const a = await startBroker(`${id}-a`, [], extra);
  procs.push(a.proc);
  const b = await startBroker(`${id}-b`, [a.zre], extra);
  procs.push(b.proc);
  await a.proc.waitFor("a sees b in ZPIPES", (l) => l.event === "cluster-peer-joined");
  await b.proc.waitFor("b sees a in ZPIPES", (l) => l.event === "cluster-peer-joined");
  return [a, b];
}

function client(kind: "writer" | "reader", broker: BrokerProc, pipe: string, args: string[] = []): Proc {
  const p = new Proc(kind, kind === "writer" ? WRITER : READER, [broker.endpoint, pipe, ...args]);
  procs.push(p);
  return p;
}

/**
 * After TERM to the writer's broker `a`: the reader fails with "broker
 * stopping" (DROP WRITER, not expiry) within 10 s, holding a clean prefix,
 * and `a` exits 0.
 */
async function expectDropOnStop(reader: Proc, a: BrokerProc): Promise<void> {
  const r = await reader.waitFor("reader failure", (l) => l.done === true || l.error !== undefined, 10_000);
  expect(r.done).toBeUndefined();
  expect(r.error).toBe("ZPIPES_FAILED");
  expect(String(r.message)).toContain("broker stopping");
  expect(r.prefixOk).toBe(true);
  expect(await a.proc.exited).toBe(0);
}

describe("ZPIPES cluster across processes", () => {
  it("256 MiB from a writer on broker A to a reader on broker B, sha256 equal on both ends", async () => {
    const [a, b] = await brokers();
    const reader = client("reader", b, "big");
    await reader.waitFor("reader opened", (l) => l.opened === true);
    const writer = client("writer", a, "big", [String(256 * MiB)]);
    const w = await writer.waitFor("writer done", (l) => l.done === true || l.error !== undefined, 120_000);
    const r = await reader.waitFor("reader done", (l) => l.done === true || l.error !== undefined, 30_000);
    expect(w).toMatchObject({ done: true, bytes: 256 * MiB });
    expect(r).toMatchObject({ done: true, bytes: 256 * MiB, prefixOk: true });
    expect(r.sha256).toBe(w.sha256);
    console.log(`256 MiB through two brokers: writer ${w.ms} ms, reader ${r.ms} ms = ${((256 * MiB) / 1e6 / ((r.ms as number) / 1000)).toFixed(1)} MB/s`);
  }, 180_000);

  it("brokers started with --cluster find each other by UDP beacon (kept on loopback) and carry 16 MiB", async () => {
    const port = 20000 + Math.floor(Math.random() * 30000);
    const id = `${tag}-${n++}`;
    const a = await startBroker(`${id}-a`, [], [], loopbackBeaconArgs(port));
    procs.push(a.proc);
    const b = await startBroker(`${id}-b`, [], [], loopbackBeaconArgs(port));
    procs.push(b.proc);
    await a.proc.waitFor("a sees b", (l) => l.event === "cluster-peer-joined");
    const reader = client("reader", b, "beaconed");
    await reader.waitFor("reader opened", (l) => l.opened === true);
    const writer = client("writer", a, "beaconed", [String(16 * MiB)]);
    const w = await writer.waitFor("writer done", (l) => l.done === true || l.error !== undefined, 60_000);
    const r = await reader.waitFor("reader done", (l) => l.done === true || l.error !== undefined, 30_000);
    expect(w).toMatchObject({ done: true, bytes: 16 * MiB });
    expect(r).toMatchObject({ done: true, bytes: 16 * MiB, prefixOk: true, sha256: w.sha256 });
    // A TERM'd broker says goodbye (port-0 beacon): the other one sees it leave at once.
    b.proc.kill("SIGTERM");
    expect(await b.proc.exited).toBe(0);
    await a.proc.waitFor("a sees b leave", (l) => l.event === "cluster-peer-gone", 1000);
  }, 120_000);

  it("killing the writer's broker mid-transfer: the reader gets a clean prefix then a failure, the writer's next call fails", async () => {
    const [a, b] = await brokers();
    const reader = client("reader", b, "cut");
    await reader.waitFor("reader opened", (l) => l.opened === true);
    const writer = client("writer", a, "cut", [String(256 * MiB)]);
    await reader.waitFor("32 MiB read", (l) => typeof l.read === "number" && l.read >= 32 * MiB, 60_000);
    a.proc.kill("SIGKILL");
    const r = await reader.waitFor("reader failure", (l) => l.done === true || l.error !== undefined, 20_000);
    const w = await writer.waitFor("writer failure", (l) => l.done === true || l.error !== undefined, 20_000);
    // No silent loss: the reader does not see a normal end of the pipe.
    expect(r.done).toBeUndefined();
    expect(r.error).toBe("ZPIPES_FAILED");
    // No duplicate, no gap, no reordering: what it got is exactly a prefix of the stream.
    expect(r.prefixOk).toBe(true);
    expect(r.bytes as number).toBeGreaterThanOrEqual(32 * MiB);
    expect(w.done).toBeUndefined();
    expect(w.error).toBeDefined();
    // The reader cannot have more than was written: at most what was
    // acknowledged plus the writer's 8 calls in flight (a chunk may reach B
    // while its WRITE_OK dies with A).
    expect(r.bytes as number).toBeLessThanOrEqual((w.acked as number) + 8 * 64 * 1024);
  }, 120_000);

  it("TERM to the writer's broker mid-transfer: the reader fails at once through DROP WRITER, not after expiry", async () => {
    // Expiry far beyond the wait below: only the DROP message can explain a prompt failure.
    const [a, b] = await brokers(["--zre-evasive", "10000", "--zre-expired", "60000"]);
    const reader = client("reader", b, "term");
    await reader.waitFor("reader opened", (l) => l.opened === true);
    const writer = client("writer", a, "term", [String(256 * MiB)]);
    await reader.waitFor("16 MiB read", (l) => typeof l.read === "number" && l.read >= 16 * MiB, 60_000);
    a.proc.kill("SIGTERM");
    await expectDropOnStop(reader, a);
    const w = await writer.waitFor("writer failure", (l) => l.done === true || l.error !== undefined, 10_000);
    expect(w.done).toBeUndefined();
  }, 120_000);

  it("TERM to the writer's broker while the reader's broker is paused: the DROP WRITER behind the DATA in flight still arrives", async () => {
    // B grants 128 MiB of credit and cannot read for a while: A's DATA fills
    // the kernel's buffers (36 MiB at most here), then A's own. A is told to
    // stop meanwhile; it must write all that and its DROP out before it
    // exits, or the reader would hang until expiry (60 s here).
    const [a, b] = await brokers(["--zre-evasive", "10000", "--zre-expired", "60000", "--cluster-window", String(128 * MiB)]);
    // A heartbeat longer than the pause: the reader must not give B up meanwhile.
    const reader = client("reader", b, "paused", [String(BLOCK), "10000"]);
    await reader.waitFor("reader opened", (l) => l.opened === true);
    const writer = client("writer", a, "paused", [String(1024 * MiB)]);
    await reader.waitFor("16 MiB read", (l) => typeof l.read === "number" && l.read >= 16 * MiB, 60_000);
    b.proc.kill("SIGSTOP");
    try {
      // Durations of the scenario, not waits for an event: B stays paused
      // while A keeps writing, then while A stops (A logs nothing between
      // its signal and the end of its links, which needs B to read).
      await new Promise((resolve) => setTimeout(resolve, 1000));
      a.proc.kill("SIGTERM");
      await a.proc.waitFor("A's signal logged", (l) => l.event === "signal", 5000);
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      b.proc.kill("SIGCONT");
    }
    await expectDropOnStop(reader, a);
    await writer.waitFor("writer failure", (l) => l.done === true || l.error !== undefined, 10_000);
  }, 120_000);

  it("killing the reader's broker mid-transfer: the writer's next call fails, the reader kept a clean prefix", async () => {
    const [a, b] = await brokers();
    const reader = client("reader", b, "cut2");
    await reader.waitFor("reader opened", (l) => l.opened === true);
    const writer = client("writer", a, "cut2", [String(256 * MiB)]);
    await reader.waitFor("32 MiB read", (l) => typeof l.read === "number" && l.read >= 32 * MiB, 60_000);
    b.proc.kill("SIGKILL");
    const w = await writer.waitFor("writer failure", (l) => l.done === true || l.error !== undefined, 20_000);
    const r = await reader.waitFor("reader failure", (l) => l.done === true || l.error !== undefined, 20_000);
    expect(w.done).toBeUndefined();
    expect(w.error).toBe("ZPIPES_FAILED");
    expect(r.done).toBeUndefined();
    expect(r.prefixOk).toBe(true);
    await a.proc.waitFor("A logs the lost peer", (l) => l.event === "cluster-peer-gone" && (l.transfers as number) >= 1, 5000);
  }, 120_000);
});
