/**
 * udp:// under 5 % packet loss, inside a network namespace the test creates
 * (iptables `-m statistic --mode random --probability 0.05 -j DROP` on UDP;
 * netem is not available on these kernels). Reliable mode must deliver
 * every message once, in order, intact; plain mode may lose messages but
 * only whole ones: nothing corrupt, nothing duplicated.
 */
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lines, Netns, requireNetAdmin } from "./netns.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/udp-loss.mjs", import.meta.url));

describe("udp:// with 5 % of UDP packets dropped (network namespace + iptables)", () => {
  let ns: Netns | undefined;
  beforeAll(() => {
    const { iptables } = requireNetAdmin();
    ns = Netns.create("loss");
    ns.exec(iptables, ["-A", "INPUT", "-p", "udp", "-m", "statistic", "--mode", "random", "--probability", "0.05", "-j", "DROP"]);
  });
  afterAll(() => ns?.delete());

  async function run(mode: "reliable" | "plain", count: number): Promise<Record<string, unknown>> {
    const child = new Lines(ns!.spawn(process.execPath, [FIXTURE, mode, String(count)]));
    try {
      const { line } = await child.next(/^\{/, 90_000, `${mode} run result`);
      return JSON.parse(line) as Record<string, unknown>;
    } finally {
      await child.kill();
    }
  }

  it("reliable mode delivers every message exactly once, in order and intact, and REQ/REP round trips all complete", { timeout: 120_000 }, async () => {
    const before = ns!.rulePackets("INPUT");
    const r = await run("reliable", 3000);
    console.log("[udp loss] reliable:", JSON.stringify(r), "packets dropped by iptables:", ns!.rulePackets("INPUT") - before);
    expect(ns!.rulePackets("INPUT") - before).toBeGreaterThan(10);
    expect(r).toMatchObject({ received: 3000, corrupt: 0, duplicates: 0, outOfOrder: 0, roundTrips: 300 });
  });

  it("plain mode loses whole messages only: none corrupt, none duplicated", { timeout: 120_000 }, async () => {
    const before = ns!.rulePackets("INPUT");
    const r = await run("plain", 3000);
    const dropped = ns!.rulePackets("INPUT") - before;
    console.log("[udp loss] plain:", JSON.stringify(r), "packets dropped by iptables:", dropped);
    expect(dropped).toBeGreaterThan(0);
    expect(r.corrupt).toBe(0);
    expect(r.duplicates).toBe(0);
    expect(r.received as number).toBeGreaterThan(0);
    expect(r.received as number).toBeLessThan(3000);
  });
});
