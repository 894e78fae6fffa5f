// Child processes for the cluster tests and bench: TypeScript sources run
// through the test loader, JSON lines collected from stdout and stderr.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const loader = fileURLToPath(new URL("../../zre/support/ts-loader.mjs", import.meta.url));
export const ZBROKER = fileURLToPath(new URL("../../../src/cli/zbroker.ts", import.meta.url));
export const WRITER = fileURLToPath(new URL("./pipe-writer.ts", import.meta.url));
export const READER = fileURLToPath(new URL("./pipe-reader.ts", import.meta.url));

export type Line = Record<string, unknown>;

export class Proc {
  readonly proc: ChildProcess;
  readonly lines: Line[] = [];
  readonly raw: string[] = [];
  readonly exited: Promise<number | null>;
  #wake: (() => void)[] = [];

  constructor(readonly label: string, script: string, args: string[]) {
    this.proc = spawn(process.execPath, ["--import", loader, script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    for (const stream of [this.proc.stdout!, this.proc.stderr!]) {
      createInterface({ input: stream }).on("line", (l) => {
        this.raw.push(l);
        if (this.raw.length > 5000) this.raw.shift();
        try {
          this.lines.push(JSON.parse(l) as Line);
        } catch {
          // not JSON: kept in `raw` for failure messages
        }
        for (const w of this.#wake.splice(0)) w();
      });
    }
    this.exited = new Promise((resolve) => this.proc.once("exit", (code) => {
      for (const w of this.#wake.splice(0)) w();
      resolve(code);
    }));
  }

  /** First line matching `pred`; fails clearly after `ms` or if the process exits first. */
  async waitFor(what: string, pred: (l: Line) => boolean, ms = 30_000): Promise<Line> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0 || this.proc.exitCode !== null || this.proc.signalCode !== null) {
        throw new Error(`${this.label}: ${left <= 0 ? `timed out after ${ms} ms` : "exited"} waiting for ${what}; last output:\n${this.raw.slice(-15).join("\n")}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#wake.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
  }
}

export interface BrokerProc {
  proc: Proc;
  name: string;
  endpoint: string;
  zre: string;
}

/** `zbroker` discovery arguments: UDP beacons kept on loopback (see the ZRE node tests). */
export function loopbackBeaconArgs(port: number): string[] {
  return ["--cluster", "--beacon-port", String(port), "--beacon-address", "127.255.255.255", "--beacon-bind", "127.255.255.255", "--beacon-interval", "100"];
}

/** Starts `zbroker NAME --gossip ...` (or with `discovery` args) on loopback with short ZRE timers. */
export async function startBroker(name: string, gossip: string[], extra: string[] = [], discovery?: string[]): Promise<BrokerProc> {
  const args = [
    name,
    ...(discovery ?? (gossip.length === 0 ? ["--gossip", "none"] : gossip.flatMap((g) => ["--gossip", g]))),
    "--zre-host", "127.0.0.1",
    "--zre-evasive", "300",
    "--zre-expired", "1500",
    ...extra,
  ];
  const proc = new Proc(`broker ${name}`, ZBROKER, args);
  const ready = await proc.waitFor("cluster-ready", (l) => l.event === "cluster-ready", 30_000);
  return { proc, name, endpoint: `ipc://@/zpipes/${name}`, zre: ready.zre as string };
}
