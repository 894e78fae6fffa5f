/**
 * A real Debian `tinyproxy` on loopback for proxy tests, configured per test
 * (basic auth, the CONNECT ports it allows) and run in the foreground so it
 * dies with the test.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, within } from "../helpers.js";
import { requireTool } from "../tools.js";

export interface Tinyproxy {
  port: number;
  /** `http://user:pass@127.0.0.1:port` (or without credentials when none are configured). */
  url(user?: string, pass?: string): string;
  /** Everything tinyproxy logged so far (it logs each CONNECT request). */
  log(): string;
  stop(): Promise<void>;
}

export async function startTinyproxy(opts: { user?: string; pass?: string; connectPorts: number[] }): Promise<Tinyproxy> {
  const bin = requireTool("tinyproxy", "tinyproxy");
  const dir = mkdtempSync(join(tmpdir(), "vtx-tinyproxy-"));
  const port = await freePort();
  const conf = [
    `Port ${port}`,
    "Listen 127.0.0.1",
    "Timeout 30",
    "MaxClients 50",
    "Allow 127.0.0.1",
    "LogLevel Info",
    ...(opts.user !== undefined ? [`BasicAuth ${opts.user} ${opts.pass ?? ""}`] : []),
    // tinyproxy allows CONNECT only to listed ports once any is listed.
    ...opts.connectPorts.map((p) => `ConnectPort ${p}`),
  ].join("\n");
  const confPath = join(dir, "tinyproxy.conf");
  writeFileSync(confPath, `${conf}\n`);
  const child: ChildProcess = spawn(bin, ["-d", "-c", confPath], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (b: Buffer): void => {
      log += b.toString();
      if (log.includes("Accepting connections")) resolve();
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`tinyproxy exited (${code}) before listening:\n${log}`)));
    child.once("error", reject);
  });
  await within(ready, 5000, `tinyproxy listening on 127.0.0.1:${port}`);
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return {
    port,
    log: () => log,
    url: (user, pass) =>
      user === undefined ? `http://127.0.0.1:${port}` : `http://${encodeURIComponent(user)}:${encodeURIComponent(pass ?? "")}@127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await within(exited, 5000, "tinyproxy exit");
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
