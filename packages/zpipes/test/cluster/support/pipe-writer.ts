// Writes the test stream into a pipe: argv = endpoint pipe totalBytes [inFlight] [heartbeatMs].
// Prints JSON lines: {"acked":n} every 8 MiB, then {"done":true,"bytes","sha256","ms"}
// or {"error":code,"message","acked"} when a call fails.
import { createHash } from "node:crypto";
import { ZpipesClient } from "../../../src/client/index.js";
import { BLOCK, baseBlock, streamChunk } from "./stream-pattern.js";

const [endpoint, pipe, totalArg, inFlightArg, hbArg] = process.argv.slice(2);
const total = Number(totalArg);
const inFlight = Number(inFlightArg ?? 8);
const out = (o: object): void => void process.stdout.write(JSON.stringify(o) + "\n");
const base = baseBlock(7);
const hash = createHash("sha256");
const client = await ZpipesClient.openWriter(pipe!, { endpoint: endpoint!, heartbeat: Number(hbArg ?? 500), connectTimeout: 10_000 });
out({ opened: true });
const chunks = Math.ceil(total / BLOCK);
let acked = 0;
let nextReport = 8 * 1024 * 1024;
const t0 = Date.now();
const pending: Promise<void>[] = [];
try {
  for (let i = 0; i < chunks; i++) {
    let c = streamChunk(base, i);
    if ((i + 1) * BLOCK > total) c = c.subarray(0, total - i * BLOCK);
    hash.update(c);
    const len = c.length;
    pending.push(
      client.write(c, 0).then(() => {
        acked += len;
        if (acked >= nextReport) {
          nextReport += 8 * 1024 * 1024;
          out({ acked });
        }
      }),
    );
    if (pending.length >= inFlight) await pending.shift();
  }
  while (pending.length > 0) await pending.shift();
  await client.close();
  out({ done: true, bytes: acked, sha256: hash.digest("hex"), ms: Date.now() - t0 });
  process.exit(0);
} catch (err) {
  // Let every outstanding write settle, so `acked` counts every WRITE_OK.
  await Promise.allSettled(pending);
  out({ error: (err as { code?: string }).code ?? "unknown", message: String(err), acked });
  process.exit(3);
}
