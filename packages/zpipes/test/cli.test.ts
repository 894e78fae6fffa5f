/**
 * The built CLIs (`pnpm build` first): zbroker and zpipe as real processes.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { STREAMING_GLIBC_TUNABLES } from "@vtx/runtime/malloc-tuning";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { F, RawClient, uniqueName } from "./helpers/raw-client.js";

const DIST = fileURLToPath(new URL("../dist/cli/", import.meta.url));
const ZBROKER = `${DIST}zbroker.js`;
const ZPIPE = `${DIST}zpipe.js`;
/** The commands as installed (package.json "bin"): shell launchers that exec node on the above. */
const BIN = fileURLToPath(new URL("../bin/", import.meta.url));

const procs: ChildProcess[] = [];
const clients: RawClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
});

beforeAll(() => {
  expect(existsSync(ZBROKER) && existsSync(ZPIPE), "the CLIs are not built: run `pnpm build` (tsc -b)").toBe(true);
});

interface Broker {
  name: string;
  proc: ChildProcess;
  stderr: () => string;
}

/** How a CLI is started: node on dist/cli/*.js, or the bin/ launcher (with `env`). */
interface Launch {
  bin?: boolean;
  env?: NodeJS.ProcessEnv;
}

function start(cli: "zbroker" | "zpipe", args: string[], how: Launch, stdio: ("ignore" | "pipe")[]): ChildProcess {
  return how.bin
    ? spawn(`${BIN}${cli}`, args, { stdio, env: how.env ?? process.env })
    : spawn(process.execPath, [cli === "zbroker" ? ZBROKER : ZPIPE, ...args], { stdio, env: how.env ?? process.env });
}

/** Start zbroker; resolves when it logged broker-started (bounded). */
async function zbroker(args: string[] = [], how: Launch = {}): Promise<Broker> {
  const name = uniqueName("zb");
  const proc = start("zbroker", [name, ...args], how, ["ignore", "pipe", "pipe"]);
  procs.push(proc);
  let err = "";
  proc.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const deadline = Date.now() + 10_000;
  while (!err.includes("broker-started")) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`zbroker did not start: ${err}`);
    await once(proc.stderr as NodeJS.ReadableStream, "data");
  }
  return { name, proc, stderr: () => err };
}

/** Run zpipe to completion with `input` on stdin; bounded. */
async function zpipe(args: string[], input?: Buffer, timeoutMs = 30_000, how: Launch = {}): Promise<{ code: number | null; out: Buffer; err: string }> {
  const proc = start("zpipe", args, how, ["pipe", "pipe", "pipe"]);
  procs.push(proc);
  const out: Buffer[] = [];
  let err = "";
  proc.stdout?.on("data", (d: Buffer) => out.push(d));
  proc.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  proc.stdin?.end(input ?? Buffer.alloc(0));
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [code] = (await once(proc, "exit")) as [number | null];
  clearTimeout(timer);
  return { code, out: Buffer.concat(out), err };
}

const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

describe("zpipe", () => {
  it("carries a file: cat file | zpipe write NAME, zpipe read NAME > file", async () => {
    const b = await zbroker();
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const [w, r] = await Promise.all([zpipe(["write", "f", "-B", b.name], data), zpipe(["read", "f", "-B", b.name])]);
    expect(w.code, w.err).toBe(0);
    expect(r.code, r.err).toBe(0);
    expect(r.out.length).toBe(data.length);
    expect(sha(r.out)).toBe(sha(data));
  });

  it("carries a file over a virtual endpoint: zpipe -E ztcp://... on both ends", async () => {
    const b = await zbroker(["--endpoint", "ztcp://127.0.0.1:0"]);
    const started = JSON.parse(b.stderr().split("\n").find((l) => l.includes("broker-started")) as string) as { endpoints: string[] };
    const ep = started.endpoints[1] as string;
    const data = randomBytes(500_000);
    const [w, r] = await Promise.all([zpipe(["write", "z", "-E", ep], data), zpipe(["read", "z", "-E", ep])]);
    expect(w.code, w.err).toBe(0);
    expect(r.code, r.err).toBe(0);
    expect(sha(r.out)).toBe(sha(data));
  });

  it("prints a progress line on stderr with --progress", async () => {
    const b = await zbroker();
    const data = randomBytes(100_000);
    const [w, r] = await Promise.all([zpipe(["write", "g", "-B", b.name, "--progress"], data), zpipe(["read", "g", "-B", b.name])]);
    expect(w.code).toBe(0);
    expect(r.out.length).toBe(data.length);
    expect(w.err).toMatch(/zpipe write g: 0\.1 MB in [\d.]+ s \([\d.]+ MB\/s\) done/);
  });

  it("fails with ZPIPES_NO_BROKER and status 1 when no broker runs", async () => {
    const r = await zpipe(["read", "x", "-B", uniqueName("none"), "-c", "300"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("ZPIPES_NO_BROKER");
  });

  it("rejects bad usage with status 2", async () => {
    expect((await zpipe(["sideways", "x"])).code).toBe(2);
  });
});

describe("zbroker", () => {
  it("binds ipc://@/zpipes/<name> and extra endpoints, and logs JSON lines", async () => {
    const b = await zbroker(["--endpoint", "tcp://127.0.0.1:0"]);
    const first = JSON.parse(b.stderr().split("\n")[0] as string) as { event: string; endpoints: string[] };
    expect(first.event).toBe("broker-started");
    expect(first.endpoints[0]).toBe(`ipc://@/zpipes/${b.name}`);
    const c = await RawClient.connect(`ipc://@/zpipes/${b.name}`);
    clients.push(c);
    expect(await c.call(F.ping)).toBe(F.PING_OK);
  });

  it("serves a virtual endpoint (ztcp:// through a vtx driver) beside its ipc one", async () => {
    const b = await zbroker(["--endpoint", "ztcp://127.0.0.1:0"]);
    const started = JSON.parse(b.stderr().split("\n").find((l) => l.includes("broker-started")) as string) as { endpoints: string[] };
    const ztcpEndpoint = started.endpoints[1] as string;
    expect(ztcpEndpoint).toMatch(/^ztcp:\/\/127\.0\.0\.1:\d+$/);
    const { Vtx } = await import("@vtx/runtime");
    const { ztcp } = await import("@vtx/drivers");
    const vtx = new Vtx();
    try {
      vtx.register("ztcp", ztcp());
      const remote = vtx.socket("DEALER");
      await vtx.connect(remote, ztcpEndpoint);
      const call = async (hex: string): Promise<string> => {
        await remote.send(Buffer.from(hex, "hex"));
        const [reply] = await Promise.race([
          remote.receive(),
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no reply over ztcp within 5 s")), 5000)),
        ]);
        return (reply as Buffer).toString("hex");
      };
      // A writer over ztcp, a reader over ipc: one pipe.
      expect(await call(F.ping)).toBe(F.PING_OK);
      expect(await call(F.output("v"))).toBe(F.OUTPUT_OK);
      const r = await RawClient.connect(`ipc://@/zpipes/${b.name}`);
      clients.push(r);
      expect(await r.call(F.input("v"))).toBe(F.INPUT_OK);
      expect(await call(F.write("over ztcp", 0))).toBe(F.WRITE_OK);
      expect(await r.call(F.read(9, 0))).toBe(F.readOk("over ztcp"));
      await vtx.close(remote);
    } finally {
      await vtx.destroy();
    }
    b.proc.kill("SIGTERM");
    const [code] = (await once(b.proc, "exit")) as [number | null];
    expect(code).toBe(0);
  });

  it("applies --budget: a WRITE beyond it waits for room", async () => {
    const b = await zbroker(["--budget", "4"]);
    const ep = `ipc://@/zpipes/${b.name}`;
    const w = await RawClient.connect(ep);
    const r = await RawClient.connect(ep);
    clients.push(w, r);
    expect(await w.call(F.output("p"))).toBe(F.OUTPUT_OK);
    expect(await r.call(F.input("p"))).toBe(F.INPUT_OK);
    expect(await w.call(F.write("1234", 0))).toBe(F.WRITE_OK);
    expect(await w.call(F.write("5", 100))).toBe(F.WRITE_TIMEOUT);
  });

  it("ends on TERM with pending calls answered *_FAILED and exit status 0", async () => {
    const b = await zbroker();
    const ep = `ipc://@/zpipes/${b.name}`;
    const r = await RawClient.connect(ep);
    const w = await RawClient.connect(ep);
    clients.push(r, w);
    expect(await r.call(F.input("p"))).toBe(F.INPUT_OK);
    expect(await w.call(F.output("q"))).toBe(F.OUTPUT_OK);
    await r.send(F.read(10, 0));
    await w.send(F.write("x", 0));
    expect(await r.call(F.ping)).toBe(F.PING_OK);
    expect(await w.call(F.ping)).toBe(F.PING_OK);
    b.proc.kill("SIGTERM");
    expect(await r.recvHex()).toBe(F.readFailed("broker shutting down"));
    expect(await w.recvHex()).toBe(F.writeFailed("broker shutting down"));
    const [code] = (await once(b.proc, "exit")) as [number | null];
    expect(code).toBe(0);
    expect(b.stderr()).toContain('"event":"broker-stopped"');
  });

  it("ends on INT with exit status 0", async () => {
    const b = await zbroker();
    b.proc.kill("SIGINT");
    const [code] = (await once(b.proc, "exit")) as [number | null];
    expect(code).toBe(0);
  });

  it("refuses a second broker of the same name with status 1 and a coded log line", async () => {
    const b = await zbroker();
    const second = spawn(process.execPath, [ZBROKER, b.name], { stdio: ["ignore", "ignore", "pipe"] });
    procs.push(second);
    let err = "";
    second.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    const [code] = (await once(second, "exit")) as [number | null];
    expect(code).toBe(1);
    expect(err).toContain("ZPIPES_BIND_FAILED");
  });
});

/** The environment of the test run without the variables the launchers look at. */
function plainEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  if (!("GLIBC_TUNABLES" in extra)) delete env.GLIBC_TUNABLES;
  if (!("VTX_NO_MALLOC_TUNING" in extra)) delete env.VTX_NO_MALLOC_TUNING;
  return env;
}

/**
 * What a launcher hands to `node`: a stand-in `node` first on PATH prints
 * its GLIBC_TUNABLES and arguments. (The real process's /proc/<pid>/environ
 * cannot tell: glibc 2.36 cuts GLIBC_TUNABLES there after the first tunable
 * while it parses them, though it applies them all.)
 */
async function launcherHandsNode(cli: "zbroker" | "zpipe", extra: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "vtx-fake-node-"));
  try {
    writeFileSync(join(dir, "node"), `#!/bin/sh\nprintf '%s\\n' "\${GLIBC_TUNABLES-(unset)}" "$@"\n`, { mode: 0o755 });
    const env = plainEnv({ ...extra, PATH: `${dir}:${process.env.PATH ?? ""}` });
    const proc = spawn(`${BIN}${cli}`, ["--flag", "a b"], { stdio: ["ignore", "pipe", "pipe"], env });
    procs.push(proc);
    let out = "";
    proc.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    const [code] = (await once(proc, "exit")) as [number | null];
    clearTimeout(timer);
    expect(code).toBe(0);
    return out.split("\n").slice(0, -1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.runIf(process.platform === "linux")("the installed commands (bin/zbroker, bin/zpipe)", () => {
  it("exec node on dist/cli/<command>.js, arguments intact, with glibc tuned for streaming", async () => {
    for (const cli of ["zbroker", "zpipe"] as const) {
      const [tunables, script, ...args] = await launcherHandsNode(cli);
      expect(tunables).toBe(STREAMING_GLIBC_TUNABLES);
      expect(realpathSync(script as string)).toBe(realpathSync(cli === "zbroker" ? ZBROKER : ZPIPE));
      expect(args).toEqual(["--flag", "a b"]);
    }
  });

  it("keep a GLIBC_TUNABLES the caller set (even empty), and set none with VTX_NO_MALLOC_TUNING=1", async () => {
    expect((await launcherHandsNode("zbroker", { GLIBC_TUNABLES: "" }))[0]).toBe("");
    expect((await launcherHandsNode("zbroker", { GLIBC_TUNABLES: "glibc.malloc.arena_max=2" }))[0]).toBe("glibc.malloc.arena_max=2");
    expect((await launcherHandsNode("zpipe", { VTX_NO_MALLOC_TUNING: "1" }))[0]).toBe("(unset)");
  });

  it("zbroker as installed is the node process itself: its pid gets TERM and ends with status 0", async () => {
    const b = await zbroker([], { bin: true, env: plainEnv() });
    expect(readFileSync(`/proc/${b.proc.pid as number}/cmdline`, "utf8")).toContain("dist/cli/zbroker.js");
    b.proc.kill("SIGTERM");
    const [code] = (await once(b.proc, "exit")) as [number | null];
    expect(code).toBe(0);
  });

  it("zpipe carries a file through zbroker, both started as installed", async () => {
    const env = plainEnv();
    const b = await zbroker([], { bin: true, env });
    const data = randomBytes(2 * 1024 * 1024 + 5);
    const [w, r] = await Promise.all([zpipe(["write", "f", "-B", b.name], data, 30_000, { bin: true, env }), zpipe(["read", "f", "-B", b.name], undefined, 30_000, { bin: true, env })]);
    expect(w.code, w.err).toBe(0);
    expect(r.code, r.err).toBe(0);
    expect(sha(r.out)).toBe(sha(data));
  });
});
