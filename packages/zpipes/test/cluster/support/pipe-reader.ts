// Reads the test stream from a pipe: argv = endpoint pipe [readSize] [heartbeatMs].
// Prints {"opened":true}, {"read":n} every 8 MiB, then {"done":true,"bytes","sha256","prefixOk","ms"}
// at READ_END, or {"error":code,"message","bytes","prefixOk"} when a read fails.
import { ZpipesClient } from "../../../src/client/index.js";
import { BLOCK, baseBlock, PrefixChecker } from "./stream-pattern.js";

const [endpoint, pipe, sizeArg, hbArg] = process.argv.slice(2);
const size = Number(sizeArg ?? BLOCK);
const out = (o: object): void => void process.stdout.write(JSON.stringify(o) + "\n");
const check = new PrefixChecker(baseBlock(7));
const client = await ZpipesClient.openReader(pipe!, { endpoint: endpoint!, heartbeat: Number(hbArg ?? 500), connectTimeout: 10_000 });
out({ opened: true });
let nextReport = 8 * 1024 * 1024;
let t0 = 0;
try {
  for (;;) {
    const got = await client.read(size, 0);
    if (t0 === 0) t0 = Date.now();
    if (got === null) break;
    check.update(got);
    if (check.offset >= nextReport) {
      nextReport += 8 * 1024 * 1024;
      out({ read: check.offset });
    }
  }
  await client.close();
  out({ done: true, bytes: check.offset, sha256: check.hash.digest("hex"), prefixOk: check.ok, firstBad: check.firstBad, ms: Date.now() - t0 });
  process.exit(0);
} catch (err) {
  out({ error: (err as { code?: string }).code ?? "unknown", message: String(err), bytes: check.offset, prefixOk: check.ok, firstBad: check.firstBad });
  process.exit(3);
}
