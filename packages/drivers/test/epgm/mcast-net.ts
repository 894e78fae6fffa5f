/**
 * Network namespaces for the epgm:// tests: multicast never leaves a
 * namespace the test created. `single` is one namespace whose loopback
 * carries multicast (lo up, MULTICAST on, 224.0.0.0/4 routed on lo): two
 * processes in it hear each other through multicast loop. `pair` is two
 * namespaces joined by a veth pair, multicast routed on it: libzmq and vtx
 * each get their own, since OpenPGM binds its port with SO_REUSEPORT only
 * and Node 20's dgram cannot share a port that way.
 *
 * {@link multicastNetReason} says why a namespace cannot be made here (not
 * root, no iproute2, no netns support); the tests then skip with it.
 */
import { execFileSync } from "node:child_process";

let counter = 0;
let probed: string | null | undefined;

function which(bin: string): string | null {
  try {
    const p = execFileSync("sh", ["-c", `command -v ${bin}`], { encoding: "utf8" }).trim();
    return p === "" ? null : p;
  } catch {
    return null;
  }
}

/** Null when namespaces can be made here, else why not (the reason a test skips with). */
export function multicastNetReason(): string | null {
  if (probed !== undefined) return probed;
  if (typeof process.getuid === "function" && process.getuid() !== 0) return (probed = "needs root to create network namespaces (ip netns add); CI runs as root");
  if (which("ip") === null) return (probed = "needs `ip` (apt-get install iproute2)");
  const name = `vtxe-probe-${process.pid}`;
  try {
    execFileSync("ip", ["netns", "add", name], { stdio: "pipe" });
    execFileSync("ip", ["netns", "del", name], { stdio: "pipe" });
  } catch (err) {
    return (probed = `cannot create a network namespace here: ${(err as Error).message.split("\n")[0]}`);
  }
  return (probed = null);
}

/** Null when iptables is there (loss tests), else why not. */
export function iptablesReason(): string | null {
  return which("iptables") === null ? "needs `iptables` (apt-get install iptables)" : null;
}

export class McastNs {
  readonly name: string;
  #deleted = false;

  private constructor(name: string) {
    this.name = name;
  }

  static #create(tag: string): McastNs {
    const ns = new McastNs(`vtxe-${tag}-${process.pid}-${++counter}`);
    execFileSync("ip", ["netns", "add", ns.name]);
    return ns;
  }

  /** One namespace, multicast on its loopback. */
  static single(tag: string): McastNs {
    const ns = McastNs.#create(tag);
    try {
      ns.ip("link", "set", "lo", "up", "multicast", "on");
      ns.ip("route", "add", "224.0.0.0/4", "dev", "lo");
    } catch (err) {
      ns.delete();
      throw err;
    }
    return ns;
  }

  /** Two namespaces on a veth pair: `a` is 10.77.x.1 on `veth-a`, `b` is 10.77.x.2 on `veth-b`. */
  static pair(tag: string): { a: McastNs; b: McastNs; aAddress: string; bAddress: string } {
    const a = McastNs.#create(`${tag}a`);
    const b = McastNs.#create(`${tag}b`);
    const net = `10.77.${counter % 250}`;
    try {
      execFileSync("ip", ["link", "add", "veth-a", "netns", a.name, "type", "veth", "peer", "name", "veth-b", "netns", b.name]);
      for (const [ns, dev, host] of [[a, "veth-a", 1], [b, "veth-b", 2]] as const) {
        ns.ip("addr", "add", `${net}.${host}/24`, "dev", dev);
        ns.ip("link", "set", "lo", "up");
        ns.ip("link", "set", dev, "up", "multicast", "on");
        ns.ip("route", "add", "224.0.0.0/4", "dev", dev);
      }
    } catch (err) {
      a.delete();
      b.delete();
      throw err;
    }
    return { a, b, aAddress: `${net}.1`, bAddress: `${net}.2` };
  }

  ip(...args: string[]): string {
    return execFileSync("ip", ["-n", this.name, ...args], { encoding: "utf8" });
  }

  exec(cmd: string, args: string[]): string {
    return execFileSync("ip", ["netns", "exec", this.name, cmd, ...args], { encoding: "utf8" });
  }

  /** The command line that runs `cmd` inside this namespace (for spawn). */
  wrap(cmd: string, args: string[]): [string, string[]] {
    return ["ip", ["netns", "exec", this.name, cmd, ...args]];
  }

  /** Deletes the namespace (its interfaces, routes and rules go with it). Safe to call twice. */
  delete(): void {
    if (this.#deleted) return;
    this.#deleted = true;
    try {
      execFileSync("ip", ["netns", "del", this.name], { stdio: "pipe" });
    } catch {
      // Already gone.
    }
  }
}
