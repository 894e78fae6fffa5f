/**
 * The vtx demo: ØMQ patterns over a virtual transport, no configuration.
 *
 *   pnpm demo                     # REQ/REP and PUSH/PULL over ztcp:// on 127.0.0.1
 *   pnpm demo ztcp://127.0.0.1:7777
 *
 * Both ends are ordinary zeromq.js sockets; the ztcp driver runs in a worker
 * thread and bridges them over inproc. A native libzmq `tcp://` socket joins
 * in to show that the virtual transport speaks the same wire.
 */
import * as zmq from "zeromq";
import { Vtx } from "@vtx/runtime";
import { ztcp } from "@vtx/drivers";

const DEFAULT_ENDPOINT = "ztcp://127.0.0.1:0";

function log(what: string): void {
  process.stdout.write(`${what}\n`);
}

async function main(): Promise<void> {
  const endpoint = process.argv[2] ?? DEFAULT_ENDPOINT;
  const watchdog = setTimeout(() => {
    log("demo: no progress for 15 s, giving up");
    process.exit(1);
  }, 15_000);

  const vtx = new Vtx();
  vtx.register("ztcp", ztcp());
  vtx.on((e) => log(`  [event] ${e.type} ${e.peer ?? e.endpoint ?? ""}${e.error ? ` (${e.error.code})` : ""}`));

  log("== REQ/REP over a virtual transport ==");
  const server = vtx.socket("REP");
  const bound = await vtx.bind(server, endpoint);
  log(`REP bound at ${bound}`);
  const client = vtx.socket("REQ");
  await vtx.connect(client, bound);
  for (const question of ["hello?", "what transport is this?"]) {
    await client.send(question);
    const [q] = await server.receive();
    log(`REP received: ${String(q)}`);
    await server.send(`answer to "${String(q)}" from a REP behind ${bound}`);
    const [a] = await client.receive();
    log(`REQ received: ${String(a)}`);
  }

  log("== a native libzmq tcp:// REQ talks to the same REP ==");
  const native = new zmq.Request();
  native.connect(bound.replace(/^ztcp:/, "tcp:"));
  await native.send("hello from native libzmq");
  const [nq] = await server.receive();
  log(`REP received: ${String(nq)}`);
  await server.send("welcome, libzmq");
  const [na] = await native.receive();
  log(`native REQ received: ${String(na)}`);
  native.close();

  log("== PUSH/PULL pipeline: one ventilator, two workers ==");
  const push = vtx.socket("PUSH");
  const pushAt = await vtx.bind(push, DEFAULT_ENDPOINT);
  const workers = [vtx.socket("PULL"), vtx.socket("PULL")];
  // Wait until the ventilator has both workers as peers, or libzmq's PUSH
  // would rightly hand everything to the first one that showed up.
  let peers = 0;
  const bothConnected = new Promise<void>((resolve) => {
    const off = vtx.on((e) => {
      if (e.type === "connected" && e.socket === push && ++peers === workers.length) {
        off();
        resolve();
      }
    });
  });
  for (const w of workers) await vtx.connect(w, pushAt);
  await bothConnected;
  const counts = [0, 0];
  const tasks = 10;
  const received = Promise.all(
    workers.map(async (w, i) => {
      for await (const [msg] of w) {
        counts[i] = (counts[i] ?? 0) + 1;
        if (String(msg) === "done") return;
      }
    }),
  );
  for (let n = 0; n < tasks; n++) await push.send(`task ${n}`);
  await push.send("done");
  await push.send("done");
  await received;
  log(`worker 1 got ${counts[0]} messages, worker 2 got ${counts[1]} (load-balanced by libzmq's own PUSH)`);

  await vtx.destroy();
  clearTimeout(watchdog);
  log("demo finished");
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
