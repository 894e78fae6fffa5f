/**
 * A name service client with no configuration: it connects a DEALER to
 * `udp://*:<port>`, so the udp:// driver broadcasts discovery probes and
 * opens a session with every name server that answers (and forgets those
 * that vanish). A lookup asks every server it knows once (the DEALER deals
 * one copy to each) and takes the first FOUND.
 *
 *   node packages/examples/dist/name-service/name-client.js [--port 5670] lookup <name>
 *   node packages/examples/dist/name-service/name-client.js [--port 5670] register <name> <endpoint>
 */
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { Vtx } from "@vtx/runtime";
import { udp, type UdpOptions } from "@vtx/drivers";
import { DEFAULT_PORT, parseReply, type NameReply } from "./name-protocol.js";

export interface NameClientOptions {
  port?: number;
  /** udp:// driver options (e.g. `broadcast`, `beaconInterval`); reliable mode is always on. */
  udp?: UdpOptions;
}

export class NameClient {
  readonly #vtx: Vtx;
  readonly #dealer;
  #servers = new Set<string>();
  #serverWaiters: Array<() => void> = [];
  #pending = new Map<string, (r: NameReply) => void>();
  #nextId = 0;
  #closed = false;

  private constructor(options: NameClientOptions) {
    this.#vtx = new Vtx();
    this.#vtx.register("udp", udp({ beaconInterval: 250, ...options.udp, reliable: true }));
    this.#dealer = this.#vtx.socket("DEALER", { linger: 0 });
    this.#vtx.on((e) => {
      if (e.socket !== this.#dealer || e.peer === undefined) return;
      if (e.type === "connected") {
        this.#servers.add(e.peer);
        for (const w of this.#serverWaiters.splice(0)) w();
      } else if (e.type === "disconnected") this.#servers.delete(e.peer);
    });
  }

  /** Starts looking for name servers on `udp://*:<port>`. */
  static async open(options: NameClientOptions = {}): Promise<NameClient> {
    const c = new NameClient(options);
    await c.#vtx.connect(c.#dealer, `udp://*:${options.port ?? DEFAULT_PORT}`);
    void c.#read();
    return c;
  }

  /** Name servers found so far (udp://host:port). */
  get servers(): string[] {
    return [...this.#servers];
  }

  /** Resolves once at least one server is known; rejects after `ms`. */
  waitForServer(ms: number): Promise<void> {
    if (this.#servers.size > 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no name server found within ${ms} ms`)), ms);
      this.#serverWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** Where is `name`? undefined if no server knows it. */
  async lookup(name: string, ms = 3000): Promise<string | undefined> {
    const replies = await this.#ask(["LOOKUP", name], ms, (r) => r.op === "FOUND");
    const found = replies.find((r) => r.op === "FOUND");
    return found?.op === "FOUND" ? found.endpoint : undefined;
  }

  /** Tells every server found that `name` is at `endpoint`; resolves with how many acknowledged. */
  async register(name: string, endpoint: string, ms = 3000): Promise<number> {
    const replies = await this.#ask(["REGISTER", name, endpoint], ms, () => false);
    return replies.filter((r) => r.op === "OK").length;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#vtx.destroy();
  }

  /** Sends one copy per known server (a DEALER deals round-robin) and collects the answers. */
  async #ask(request: string[], ms: number, enough: (r: NameReply) => boolean): Promise<NameReply[]> {
    await this.waitForServer(ms);
    const copies = this.#servers.size;
    const replies: NameReply[] = [];
    const ids: string[] = [];
    const done = new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      for (let i = 0; i < copies; i++) {
        const id = String(++this.#nextId);
        ids.push(id);
        this.#pending.set(id, (r) => {
          replies.push(r);
          if (enough(r) || replies.length === copies) {
            clearTimeout(t);
            resolve();
          }
        });
      }
    });
    // The empty frame is the REQ/REP envelope delimiter a REP expects.
    for (const id of ids) await this.#dealer.send(["", id, ...request]);
    await done;
    for (const id of ids) this.#pending.delete(id);
    return replies;
  }

  async #read(): Promise<void> {
    while (!this.#closed) {
      let frames: Buffer[];
      try {
        frames = await this.#dealer.receive();
      } catch {
        return; // closed
      }
      const reply = parseReply(frames.slice(1));
      if (reply !== undefined) this.#pending.get(reply.id)?.(reply);
    }
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { port: { type: "string" }, broadcast: { type: "string" } }, allowPositionals: true });
  const [command, name, endpoint] = positionals;
  const client = await NameClient.open({
    port: values.port === undefined ? DEFAULT_PORT : Number(values.port),
    udp: values.broadcast === undefined ? {} : { broadcast: values.broadcast.split(",") },
  });
  let code = 0;
  try {
    await client.waitForServer(5000);
    if (command === "lookup" && name !== undefined) {
      const where = await client.lookup(name);
      process.stdout.write(where === undefined ? `${name}: unknown\n` : `${name}: ${where}\n`);
      code = where === undefined ? 1 : 0;
    } else if (command === "register" && name !== undefined && endpoint !== undefined) {
      const n = await client.register(name, endpoint);
      process.stdout.write(`${name} registered with ${n} server(s)\n`);
    } else {
      process.stderr.write("usage: name-client.js [--port N] [--broadcast a,b] lookup <name> | register <name> <endpoint>\n");
      code = 2;
    }
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    code = 1;
  } finally {
    await client.close();
  }
  process.exit(code);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
