/**
 * A name server: a REP socket bound at `udp://*:<port>`, found by clients
 * with no configuration (they connect to `udp://*:<port>` and the udp://
 * driver's discovery beacons do the rest). It answers LOOKUP from its table
 * and adds REGISTERed names to it.
 *
 *   node packages/examples/dist/name-service/name-server.js [--port 5670] [name=endpoint ...]
 */
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { Vtx } from "@vtx/runtime";
import { udp, type UdpOptions } from "@vtx/drivers";
import { DEFAULT_PORT, parseRequest, replyFrames, type NameReply } from "./name-protocol.js";

export interface NameServerOptions {
  port?: number;
  /** Names known from the start. */
  services?: Record<string, string>;
  /** udp:// driver options (e.g. heartbeats); reliable mode is always on. */
  udp?: UdpOptions;
}

export interface NameServer {
  /** The endpoint bound. */
  readonly endpoint: string;
  readonly table: Map<string, string>;
  close(): Promise<void>;
}

export async function startNameServer(options: NameServerOptions = {}): Promise<NameServer> {
  const vtx = new Vtx();
  vtx.register("udp", udp({ ...options.udp, reliable: true }));
  const rep = vtx.socket("REP", { linger: 0 });
  const table = new Map(Object.entries(options.services ?? {}));
  const endpoint = await vtx.bind(rep, `udp://*:${options.port ?? DEFAULT_PORT}`);
  let closed = false;
  const serving = (async () => {
    while (!closed) {
      let frames: Buffer[];
      try {
        frames = await rep.receive();
      } catch {
        return; // socket closed
      }
      const req = parseRequest(frames);
      let reply: NameReply;
      if (req === undefined) reply = { id: frames[0]?.toString() ?? "", op: "UNKNOWN", name: "" };
      else if (req.op === "REGISTER") {
        table.set(req.name, req.endpoint);
        reply = { id: req.id, op: "OK", name: req.name };
      } else {
        const ep = table.get(req.name);
        reply = ep === undefined ? { id: req.id, op: "UNKNOWN", name: req.name } : { id: req.id, op: "FOUND", name: req.name, endpoint: ep };
      }
      await rep.send(replyFrames(reply));
    }
  })();
  return {
    endpoint,
    table,
    async close() {
      closed = true;
      await vtx.destroy();
      await serving;
    },
  };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { port: { type: "string" } }, allowPositionals: true });
  const services: Record<string, string> = {};
  for (const p of positionals) {
    const eq = p.indexOf("=");
    if (eq <= 0) throw new Error(`expected name=endpoint, got "${p}"`);
    services[p.slice(0, eq)] = p.slice(eq + 1);
  }
  const server = await startNameServer({ port: values.port === undefined ? DEFAULT_PORT : Number(values.port), services });
  process.stdout.write(`name server at ${server.endpoint} knows ${[...server.table.keys()].join(", ") || "nothing yet"}\n`);
  const stop = (): void => void server.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
