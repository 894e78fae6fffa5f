/**
 * Client expiry when the broker falls behind its input: a client that kept
 * talking while the broker could not read (a flood, a starved CPU) must not
 * be taken for silent. Found by the fuzz test on a loaded 2-core machine,
 * where well-behaved readers were expired mid-transfer and then got INVALID.
 */
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import { ZpipesBroker } from "../src/broker/index.js";
import { F, uniqueName } from "./helpers/raw-client.js";

let broker: ZpipesBroker | null = null;
let worker: Worker | null = null;
afterEach(async () => {
  const w = worker;
  worker = null;
  if (w) {
    const exited = new Promise((r) => w.once("exit", r));
    w.postMessage("stop");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  }
  await broker?.stop();
  broker = null;
});

// A raw ZPIPES reader in a worker thread: it keeps PINGing every 50 ms on its
// own event loop while the main thread (where the broker runs) is blocked.
const CLIENT = `
const { parentPort, workerData } = require("node:worker_threads");
const zmq = require("module").createRequire(workerData.base)("zeromq");
const hex = (h) => Buffer.from(h, "hex");
const d = new zmq.Dealer({ linger: 0 });
// One send at a time (zeromq.js refuses overlapping sends).
let chain = Promise.resolve();
const send = (h) => (chain = chain.then(() => d.send(hex(h))).catch(() => {}));
let timer;
parentPort.on("message", (m) => {
  if (m === "check") {
    clearInterval(timer);
    send(workerData.read);
  } else if (m === "stop") {
    // Close the socket before the thread ends (zeromq.js aborts otherwise).
    clearInterval(timer);
    chain.finally(() => { d.close(); parentPort.close(); });
  }
});
(async () => {
  d.connect(workerData.endpoint);
  send(workerData.input);
  const [ok] = await d.receive();
  parentPort.postMessage({ opened: ok.toString("hex") });
  let pings = 0;
  timer = setInterval(() => send(workerData.ping), 50);
  for (;;) {
    const [r] = await d.receive();
    const h = r.toString("hex");
    if (h === workerData.pingOk) pings++;
    else parentPort.postMessage({ reply: h, pings });
  }
})().catch((e) => { if (!d.closed) parentPort.postMessage({ error: String(e) }); });
`;

function next(w: Worker, what: string, timeoutMs = 5000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${what} from the client within ${timeoutMs} ms`)), timeoutMs);
    w.once("message", (m: Record<string, unknown>) => {
      clearTimeout(t);
      if (typeof m.error === "string") reject(new Error(m.error));
      else resolve(m);
    });
  });
}

it("does not expire a client that kept sending while the broker could not read", async () => {
  const expiry = 400;
  broker = new ZpipesBroker({ name: uniqueName("lag"), expiry });
  await broker.start();
  const base = fileURLToPath(new URL("../package.json", import.meta.url));
  worker = new Worker(CLIENT, {
    eval: true,
    workerData: { base, endpoint: broker.endpoints[0], input: F.input("lagged"), ping: F.ping, pingOk: F.PING_OK, read: F.read(1, 100) },
  });
  expect((await next(worker, "INPUT reply")).opened).toBe(F.INPUT_OK);

  // Block this thread (and so the broker) for three expiry periods while the
  // client goes on PINGing; its PINGs wait, unread, in the broker's socket.
  const until = Date.now() + 3 * expiry;
  while (Date.now() < until) {
    /* busy: the broker cannot run */
  }

  // The broker's sweep comes due before it reads the queued PINGs. The client
  // must still be there: its READ times out (READ_TIMEOUT), not INVALID.
  const answer = next(worker, "READ reply");
  worker.postMessage("check");
  expect((await answer).reply).toBe(F.READ_TIMEOUT);
  expect(broker.stats().clients).toBe(1);
});
