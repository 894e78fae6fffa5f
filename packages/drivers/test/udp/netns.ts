/**
 * Network namespaces for the udp:// tests that need a network of their own
 * (packet loss with iptables, broadcast discovery between hosts): created
 * by the test, deleted in afterAll whatever happened. Needs root, `ip`
 * (iproute2) and `iptables`; a missing one fails the test with the package
 * to install (CI installs them, .ci/run) instead of skipping it.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { requireTool } from "../tools.js";

let counter = 0;

/** Fails clearly unless this process may create namespaces and has ip and iptables. */
export function requireNetAdmin(): { ip: string; iptables: string } {
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    throw new Error("this test creates network namespaces (ip netns add) and needs root; CI runs as root");
  }
  return { ip: requireTool("ip", "iproute2"), iptables: requireTool("iptables", "iptables") };
}

export class Netns {
  readonly name: string;
  #deleted = false;

  private constructor(name: string) {
    this.name = name;
  }

  /** A fresh namespace with its loopback up. */
  static create(tag: string): Netns {
    const { ip } = requireNetAdmin();
    const ns = new Netns(`vtxu-${tag}-${process.pid}-${++counter}`);
    execFileSync(ip, ["netns", "add", ns.name]);
    ns.ip("link", "set", "lo", "up");
    return ns;
  }

  /** `ip -n <ns> ...` */
  ip(...args: string[]): string {
    return execFileSync(requireTool("ip", "iproute2"), ["-n", this.name, ...args], { encoding: "utf8" });
  }

  /** Runs a command inside the namespace and returns its stdout. */
  exec(cmd: string, args: string[]): string {
    return execFileSync(requireTool("ip", "iproute2"), ["netns", "exec", this.name, cmd, ...args], { encoding: "utf8" });
  }

  /** Starts a long-running process inside the namespace (stdout piped). */
  spawn(cmd: string, args: string[]): ChildProcess {
    return spawn(requireTool("ip", "iproute2"), ["netns", "exec", this.name, cmd, ...args], { stdio: ["pipe", "pipe", "pipe"] });
  }

  /** Packets the first iptables rule of `chain` matched (e.g. dropped). */
  rulePackets(chain: string): number {
    const out = this.exec(requireTool("iptables", "iptables"), ["-L", chain, "-v", "-n", "-x"]);
    const line = out.split("\n").find((l) => /^\s*\d+\s+\d+\s+DROP/.test(l));
    return line === undefined ? 0 : Number(line.trim().split(/\s+/)[0]);
  }

  /** Deletes the namespace (and so its interfaces and rules). Safe to call twice. */
  delete(): void {
    if (this.#deleted) return;
    this.#deleted = true;
    try {
      execFileSync(requireTool("ip", "iproute2"), ["netns", "del", this.name]);
    } catch {
      // Already gone.
    }
  }
}

/** Collects a child's stdout lines; resolves lines matching a pattern, bounded in time. */
export class Lines {
  readonly lines: string[] = [];
  #waiters = new Set<() => void>();
  #exited = false;
  stderr = "";

  constructor(readonly child: ChildProcess) {
    let buf = "";
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        this.lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      for (const w of [...this.#waiters]) w();
    });
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      if (this.stderr.length < 20_000) this.stderr += chunk;
    });
    child.on("exit", () => {
      this.#exited = true;
      for (const w of [...this.#waiters]) w();
    });
  }

  /** The first line (from `from` on) matching `re`; rejects after `ms` or if the process exits first. */
  next(re: RegExp, ms: number, what: string, from = 0): Promise<{ line: string; index: number; match: RegExpMatchArray }> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        for (let i = from; i < this.lines.length; i++) {
          const m = re.exec(this.lines[i] as string);
          if (m !== null) {
            done();
            resolve({ line: this.lines[i] as string, index: i, match: m });
            return;
          }
        }
        if (this.#exited) {
          done();
          reject(new Error(`${what}: the process exited first; stdout:\n${this.lines.join("\n")}\nstderr:\n${this.stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${what}: not seen within ${ms} ms; stdout:\n${this.lines.slice(-30).join("\n")}\nstderr:\n${this.stderr}`));
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** SIGKILL and wait for the exit (bounded). */
  async kill(): Promise<void> {
    if (this.#exited) return;
    const gone = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.kill("SIGKILL");
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
  }
}
