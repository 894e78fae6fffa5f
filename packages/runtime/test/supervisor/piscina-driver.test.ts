import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MessageChannel } from "node:worker_threads";
import { Piscina } from "piscina";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { fromPromise, Supervisor, SupervisorCode, type ChildHandle, type ChildSpec } from "../../src/supervisor/index.js";
import { nextEvent, within } from "./helpers/bounded.js";

/**
 * The runtime's use: a transport driver as a long-lived task in a piscina
 * pool, supervised through fromPromise. Real worker threads; the task's
 * control port stands in for the driver's mailbox.
 */
/**
 * A piscina task standing in for a transport driver: it runs until told
 * over its control port to stop (orderly) or to crash. Plain JS, written to
 * a temporary file, because a worker thread loads it outside vitest's
 * TypeScript transform (and a .mjs file in the tree is outside the lint's
 * TypeScript project).
 */
const DRIVER_TASK_SOURCE = `
export default async function driverTask({ mode, port }) {
  if (mode === "fail-at-once") {
    port.close();
    throw Object.assign(new Error("bind failed"), { code: "EADDRINUSE" });
  }
  try {
    await new Promise((resolve, reject) => {
      port.on("message", (msg) => {
        if (msg === "stop" && mode !== "deaf") resolve();
        else if (msg === "crash") reject(Object.assign(new Error("driver crashed"), { code: "E_DRIVER" }));
        else if (msg === "crash-as-data") reject({ code: "E_DRIVER", message: "driver crashed (plain data)" });
      });
      port.postMessage("ready");
    });
  } finally {
    port.close();
  }
}
`;

/** Starts one driver task and resolves once it reports ready (as OTP's start_link waits for init). */
async function startDriver(pool: Piscina, mode: string, controls: MessageChannel["port1"][]): Promise<ChildHandle> {
  const { port1, port2 } = new MessageChannel();
  controls.push(port1);
  const ready = new Promise<void>((resolve) => port1.once("message", () => resolve()));
  let run!: Promise<unknown>;
  const handle = fromPromise(
    async (signal) => {
      run = pool.run({ mode, port: port2 }, { transferList: [port2], signal });
      await run;
    },
    { stop: () => port1.postMessage("stop") },
  );
  // A task that fails before it is ready is a failed start.
  await Promise.race([ready, run.then(() => Promise.reject(new Error("driver ended before ready")))]);
  return handle;
}

describe("supervising piscina driver tasks", () => {
  let pool: Piscina;
  let sup: Supervisor | undefined;
  const controls: MessageChannel["port1"][] = [];
  const current = () => controls.at(-1)!;
  const threadIds = () => pool.threads.map((t) => t.threadId);

  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "vtx-supervisor-"));
    const filename = join(dir, "driver-task.mjs");
    writeFileSync(filename, DRIVER_TASK_SOURCE);
    pool = new Piscina({ filename, minThreads: 1, maxThreads: 1, idleTimeout: 60_000 });
  });
  afterEach(async () => {
    await within(sup?.stop() ?? Promise.resolve(), 5000, "supervisor stop in afterEach");
    sup = undefined;
    for (const p of controls.splice(0)) p.close();
  });
  afterAll(async () => {
    await within(pool.destroy(), 5000, "pool destroy");
    rmSync(dir, { recursive: true, force: true });
  });

  const spec = (id: string, mode: () => string, extra: Partial<ChildSpec> = {}): ChildSpec => ({
    id,
    start: () => startDriver(pool, mode(), controls),
    ...extra,
  });

  it("restarts a driver task that crashes, in the same worker thread", async () => {
    sup = new Supervisor({ intensity: 3, children: [spec("udp", () => "serve")] });
    await sup.start();
    const before = threadIds();
    const exited = nextEvent(sup, "child-exited", () => true, 5000);
    const restarted = nextEvent(sup, "child-restarted", () => true, 5000);
    current().postMessage("crash-as-data");
    expect((await exited).exit).toEqual({ kind: "error", error: { code: "E_DRIVER", message: "driver crashed (plain data)" } });
    await restarted;
    expect(threadIds()).toEqual(before);
  });

  it("keeps only the message of an Error thrown in the worker (its code does not cross threads)", async () => {
    sup = new Supervisor({ intensity: 3, children: [spec("udp", () => "serve")] });
    await sup.start();
    const exited = nextEvent(sup, "child-exited", () => true, 5000);
    current().postMessage("crash");
    expect((await exited).exit).toEqual({ kind: "error", error: { code: "VTX_INTERNAL", message: "driver crashed" } });
  });

  it("stops a driver in order through its control port, leaving its worker alive", async () => {
    sup = new Supervisor({ children: [spec("udp", () => "serve", { shutdown: 2000 })] });
    await sup.start();
    const before = threadIds();
    const exited = nextEvent(sup, "child-exited", () => true, 5000);
    await within(sup.stop(), 5000, "stop");
    expect(await exited).toMatchObject({ exit: { kind: "normal" }, killed: false });
    expect(threadIds()).toEqual(before);
  });

  it("kills a driver that ignores stop by aborting its task, which replaces its worker", async () => {
    sup = new Supervisor({ children: [spec("udp", () => "deaf", { shutdown: 100 })] });
    await sup.start();
    const destroyed = within(once(pool, "workerDestroy"), 5000, "piscina to destroy the worker");
    const created = within(once(pool, "workerCreate"), 5000, "piscina to create a replacement worker");
    const exited = nextEvent(sup, "child-exited", () => true, 5000);
    await within(sup.terminateChild("udp"), 5000, "terminateChild");
    expect(await exited).toMatchObject({ killed: true, exit: { kind: "error", error: { code: SupervisorCode.KILLED } } });
    // piscina terminates the aborted task's worker and starts a new one (minThreads 1).
    await destroyed;
    await created;
  });

  it("counts a driver whose restart fails before ready (port busy) and restarts it when the port frees", async () => {
    let starts = 0;
    sup = new Supervisor({ intensity: 5, children: [spec("udp", () => (++starts === 2 ? "fail-at-once" : "serve"))] });
    await sup.start();
    const failed = nextEvent(sup, "child-start-failed", () => true, 5000);
    const restarted = nextEvent(sup, "child-restarted", () => true, 5000);
    current().postMessage("crash-as-data");
    expect((await failed).error.code).toBe(SupervisorCode.CHILD_START);
    expect(await restarted).toMatchObject({ id: "udp", restarts: 1 });
    expect(starts).toBe(3);
  });
});
