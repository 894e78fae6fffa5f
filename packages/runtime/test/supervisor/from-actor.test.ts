import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createActor, fromPromise as xstatePromise, setup, type Actor } from "xstate";
import { fromActor, Supervisor, type ChildExit, type SupervisorEvents } from "../../src/supervisor/index.js";
import { nextEvent, recordEvents, within } from "./helpers/bounded.js";
import { afterPendingTasks, watchUnhandled } from "./helpers/unhandled.js";

/** A worker that crashes on CRASH (an action throws, so XState puts the actor in status "error") and ends on FINISH. */
const workerMachine = setup({
  actions: {
    explode: () => {
      throw Object.assign(new Error("boom"), { code: "E_BOOM" });
    },
  },
}).createMachine({
  id: "worker",
  initial: "running",
  states: {
    running: { on: { CRASH: { actions: "explode" }, FINISH: "done" } },
    done: { type: "final" },
  },
});

/** Invokes a promise that rejects, with no onError: XState 5 makes the machine itself fail. */
const failingInvokeMachine = setup({
  actors: { connect: xstatePromise(async () => Promise.reject(Object.assign(new Error("connection refused"), { code: "ECONNREFUSED" }))) },
}).createMachine({ id: "dialer", initial: "connecting", states: { connecting: { invoke: { src: "connect" } } } });

type Worker = Actor<typeof workerMachine>;
type Exited = SupervisorEvents["child-exited"];

describe("fromActor", () => {
  let unhandled: ReturnType<typeof watchUnhandled>;
  let sup: Supervisor | undefined;
  beforeEach(() => {
    unhandled = watchUnhandled();
  });
  afterEach(async () => {
    await within(sup?.stop() ?? Promise.resolve(), 5000, "supervisor stop in afterEach");
    sup = undefined;
    await afterPendingTasks();
    unhandled.dispose();
  });

  it("restarts an XState actor each time it errors (3 times), with a fresh actor each time", async () => {
    const actors: Worker[] = [];
    sup = new Supervisor({
      intensity: 3,
      period: 60_000,
      children: [
        {
          id: "worker",
          start: () => {
            const actor = createActor(workerMachine);
            actors.push(actor);
            return fromActor(actor);
          },
        },
      ],
    });
    const exits: ChildExit[] = [];
    sup.on("child-exited", (e) => exits.push(e.exit));
    await sup.start();

    for (let i = 1; i <= 3; i++) {
      const restarted = nextEvent(sup, "child-restarted");
      actors.at(-1)?.send({ type: "CRASH" });
      expect(await restarted).toEqual({ id: "worker", restarts: i, cause: "worker" });
    }

    expect(actors).toHaveLength(4);
    expect(actors.slice(0, 3).map((a) => a.getSnapshot().status)).toEqual(["error", "error", "error"]);
    expect(actors[3]?.getSnapshot().status).toBe("active");
    expect(exits).toEqual(Array(3).fill({ kind: "error", error: { code: "E_BOOM", message: "boom" } }));
    // XState did not report the errors as unhandled: the supervisor handled them.
    await afterPendingTasks();
    expect(unhandled.seen).toEqual([]);
    expect(sup.whichChildren()).toEqual([{ id: "worker", running: true, restarting: false, restarts: 3, restart: "permanent" }]);
  });

  it("a 4th error within the period exceeds intensity 3 and stops the tree", async () => {
    const actors: Worker[] = [];
    sup = new Supervisor({
      intensity: 3,
      period: 60_000,
      children: [
        {
          id: "worker",
          start: () => {
            const actor = createActor(workerMachine);
            actors.push(actor);
            return fromActor(actor);
          },
        },
      ],
    });
    await sup.start();
    for (let i = 1; i <= 3; i++) {
      const restarted = nextEvent(sup, "child-restarted");
      actors.at(-1)?.send({ type: "CRASH" });
      await restarted;
    }
    actors.at(-1)?.send({ type: "CRASH" });
    expect((await within(sup.stopped, 2000, "intensity stop")).reason).toBe("VTX_SUPERVISOR_INTENSITY");
    expect(actors).toHaveLength(4);
  });

  it("reports a final state as a normal exit (a transient actor is not restarted)", async () => {
    let actor: Worker | undefined;
    sup = new Supervisor({
      children: [{ id: "job", restart: "transient", start: () => fromActor((actor = createActor(workerMachine))) }],
    });
    await sup.start();
    const exited = nextEvent(sup, "child-exited", (e: Exited) => e.initiatedBy === "child");
    actor?.send({ type: "FINISH" });
    expect((await exited).exit).toEqual({ kind: "normal" });
    await sup.sync();
    expect(sup.whichChildren()).toEqual([{ id: "job", running: false, restarting: false, restarts: 0, restart: "transient" }]);
  });

  it("stops the actor on terminateChild and reports a shutdown exit", async () => {
    let actor: Worker | undefined;
    sup = new Supervisor({ children: [{ id: "w", start: () => fromActor((actor = createActor(workerMachine))) }] });
    await sup.start();
    const exited = nextEvent(sup, "child-exited");
    await sup.terminateChild("w");
    expect(await exited).toMatchObject({ exit: { kind: "shutdown" }, initiatedBy: "supervisor", killed: false });
    expect(actor?.getSnapshot().status).toBe("stopped");
  });

  it("reports an unhandled invoked-actor failure as the actor's error exit", async () => {
    const handle = fromActor(createActor(failingInvokeMachine));
    const exit = await within(handle.exited, 2000, "the dialer actor to fail");
    expect(exit).toEqual({ kind: "error", error: { code: "ECONNREFUSED", message: "connection refused" } });
  });

  it("reports an actor that errors while starting, and one already stopped, without hanging", async () => {
    const failsAtOnce = setup({}).createMachine({
      entry: () => {
        throw new Error("bad config");
      },
    });
    expect(await within(fromActor(createActor(failsAtOnce)).exited, 1000, "error exit")).toMatchObject({
      kind: "error",
      error: { message: "bad config" },
    });

    const stopped = createActor(workerMachine).start();
    stopped.stop();
    expect(await within(fromActor(stopped).exited, 1000, "shutdown exit")).toEqual({ kind: "shutdown" });
  });

  it("supervises an actor that fails during start like any failed start", async () => {
    const failsAtOnce = setup({}).createMachine({
      entry: () => {
        throw new Error("bad config");
      },
    });
    sup = new Supervisor({ intensity: 2, children: [{ id: "bad", start: () => fromActor(createActor(failsAtOnce)) }] });
    const log = recordEvents(sup);
    await sup.start();
    expect((await within(sup.stopped, 2000, "intensity stop")).reason).toBe("VTX_SUPERVISOR_INTENSITY");
    expect(log.filter((e) => e.startsWith("restarted:"))).toHaveLength(2);
  });
});
