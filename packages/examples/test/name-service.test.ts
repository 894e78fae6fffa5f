/**
 * The name-service example, run the way its doc says (node on the built
 * dist): a server with a preloaded table, found by a client that is given
 * no address, only the port (udp:// discovery). Probes are confined to the
 * loopback broadcast address so the test sends nothing off this host.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { NameClient } from "../dist/name-service/name-client.js";

const DIST = fileURLToPath(new URL("../dist/name-service/", import.meta.url));
const BROADCAST = "127.255.255.255";

async function freeUdpPort(): Promise<number> {
  const s = createSocket("udp4");
  s.bind(0, "0.0.0.0");
  await once(s, "listening");
  const port = s.address().port;
  s.close();
  return port;
}

function run(script: string, args: string[]): { child: ChildProcess; out: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [`${DIST}${script}`, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exit = once(child, "exit").then(([code]) => code as number | null);
  return { child, out: () => out, exit };
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

describe("name service example over udp:// discovery", () => {
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  });

  it("a client given only the port finds the server and resolves names; registrations are answered too", async () => {
    const port = await freeUdpPort();
    const server = run("name-server.js", ["--port", String(port), "echo=tcp://127.0.0.1:7000"]);
    children.push(server.child);
    const started = Date.now();
    while (!server.out().includes("name server at") && Date.now() - started < 10_000) {
      await within(Promise.race([once(server.child.stdout!, "data"), server.exit]), 10_000, "server start");
    }
    expect(server.out()).toContain(`name server at udp://*:${port} knows echo`);

    // The CLI, as a user would run it.
    const cli = run("name-client.js", ["--port", String(port), "--broadcast", BROADCAST, "lookup", "echo"]);
    children.push(cli.child);
    expect(await within(cli.exit, 15_000, "client CLI")).toBe(0);
    expect(cli.out()).toBe("echo: tcp://127.0.0.1:7000\n");

    // The library.
    const client = await NameClient.open({ port, udp: { broadcast: [BROADCAST] } });
    try {
      await client.waitForServer(10_000);
      expect(client.servers).toHaveLength(1);
      expect(await client.lookup("nobody")).toBeUndefined();
      expect(await client.register("clock", "udp://127.0.0.1:7001")).toBe(1);
      expect(await client.lookup("clock")).toBe("udp://127.0.0.1:7001");
      expect(await client.lookup("echo")).toBe("tcp://127.0.0.1:7000");
    } finally {
      await client.close();
    }
  });
});
