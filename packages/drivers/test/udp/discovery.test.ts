/**
 * Zero-configuration discovery (docs/protocols/udp.md §7) between three
 * "hosts": network namespaces joined by a bridge (10.77.x.0/24), created by
 * the test. The client connects to `udp://*:port` with no address; it must
 * find a server already running, one started later, and notice when one
 * vanishes (killed: no BYE, so by expiry).
 */
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lines, Netns, requireNetAdmin } from "./netns.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/udp-discovery.mjs", import.meta.url));
const PORT = "5670";

describe("udp:// discovery across network namespaces", () => {
  const spaces: Netns[] = [];
  const children: Lines[] = [];
  let client: Netns;
  let s1: Netns;
  let s2: Netns;
  // A /24 per test process, so parallel runs do not share addresses (each has its own namespaces anyway).
  const net = `10.77.${process.pid % 250}`;

  beforeAll(() => {
    requireNetAdmin();
    client = Netns.create("c");
    s1 = Netns.create("s1");
    s2 = Netns.create("s2");
    spaces.push(client, s1, s2);
    client.ip("link", "add", "br0", "type", "bridge");
    client.ip("addr", "add", `${net}.1/24`, "dev", "br0");
    client.ip("link", "set", "br0", "up");
    for (const [i, ns] of [s1, s2].entries()) {
      const v = `v${i + 1}`;
      client.ip("link", "add", v, "type", "veth", "peer", "name", "eth0", "netns", ns.name);
      client.ip("link", "set", v, "master", "br0");
      client.ip("link", "set", v, "up");
      ns.ip("addr", "add", `${net}.${i + 2}/24`, "dev", "eth0");
      ns.ip("link", "set", "eth0", "up");
    }
  });

  afterAll(async () => {
    for (const c of children) await c.kill();
    for (const ns of spaces) ns.delete();
  });

  function start(ns: Netns, ...args: string[]): Lines {
    const l = new Lines(ns.spawn(process.execPath, [FIXTURE, ...args]));
    children.push(l);
    return l;
  }

  it("a client with no address finds a running server, a later one, and notices one that vanishes", { timeout: 60_000 }, async () => {
    const a = start(s1, "server", PORT, "alpha");
    await a.next(/^ready$/, 15_000, "server alpha ready");
    const c = start(client, "client", PORT);
    await c.next(new RegExp(`^connected udp://${net.replaceAll(".", "\\.")}\\.2:${PORT}$`), 15_000, "client found alpha");
    await c.next(/^heard alpha$/, 10_000, "client hears alpha");

    // A server appearing later is found by a later probe.
    const b = start(s2, "server", PORT, "beta");
    await b.next(/^ready$/, 15_000, "server beta ready");
    const found = await c.next(new RegExp(`^connected udp://${net.replaceAll(".", "\\.")}\\.3:${PORT}$`), 15_000, "client found beta");
    await c.next(/^heard beta$/, 10_000, "client hears beta", found.index);
    // One session per server, however many interfaces its offers came from.
    expect(c.lines.filter((l) => l.startsWith("connected ")).length).toBe(2);

    // Killed: no BYE; the client expires it after its heartbeat timeout.
    await b.kill();
    const gone = await c.next(new RegExp(`^disconnected udp://${net.replaceAll(".", "\\.")}\\.3:${PORT} UDP_PEER_EXPIRED$`), 15_000, "client drops vanished beta");
    // alpha is still heard after beta's departure.
    await c.next(/^heard alpha$/, 10_000, "client still hears alpha", gone.index);
  });
});
