#!/usr/bin/env node
/**
 * zbroker [broker-name] — run a ZPIPES broker (seed 002): a ROUTER at
 * ipc://@/zpipes/<broker-name>, default name "local". Ends cleanly on TERM or
 * INT: pending calls are answered with *_FAILED, exit status 0.
 */
import { primeMallocForStreaming } from "@vtx/runtime/malloc-tuning";
import { parseArgs, type ParseArgsConfig } from "node:util";
import * as zmq from "zeromq";
import { pathToFileURL } from "node:url";
import { ZpipesBroker, DEFAULT_BUDGET, DEFAULT_EXPIRY, DEFAULT_MAX_MEMORY } from "../broker/broker.js";
import type { BrokerPlugin } from "../broker/plugin.js";
import { MAX_CHUNK } from "../codec/index.js";
import { jsonLogger, type LogLevel } from "../log.js";
import { parseBytes } from "./parse-bytes.js";
import { VIRTUAL_SCHEMES, virtualSocketHooks } from "./virtual-endpoints.js";

const BASE_OPTIONS = {
  endpoint: { type: "string", short: "e", multiple: true },
  budget: { type: "string", short: "b" },
  expiry: { type: "string" },
  "max-chunk": { type: "string" },
  "max-memory": { type: "string" },
  "log-level": { type: "string" },
  "slow-path": { type: "boolean" },
  "no-direct": { type: "boolean" },
  "io-threads": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies NonNullable<ParseArgsConfig["options"]>;

const USAGE = `usage: zbroker [broker-name] [options]

Runs a ZPIPES broker at ipc://@/zpipes/<broker-name> (default name: local).

  -e, --endpoint EP     also bind EP (repeatable), e.g. tcp://127.0.0.1:5670;
                        ${VIRTUAL_SCHEMES.join("://, ")}:// endpoints go through vtx drivers
  -b, --budget BYTES    per-pipe byte budget for flow control (default ${DEFAULT_BUDGET}; k/m/g suffixes)
      --expiry MS       drop clients silent this long (default ${DEFAULT_EXPIRY})
      --max-chunk BYTES longest chunk accepted (default ${MAX_CHUNK})
      --max-memory BYTES cap on bytes held by the broker (default ${DEFAULT_MAX_MEMORY})
      --log-level L     debug | info | warn | error (default info)
      --io-threads N    libzmq I/O threads (default 2: a writer's and a reader's
                        connections are served in parallel)
      --slow-path       send every READ/WRITE through the XState machine (diagnostic)
      --no-direct       serve tcp:// and ipc:// through libzmq too, not by the broker's own ZMTP (diagnostic)
  -h, --help            this text

Logs are JSON lines on stderr. TERM or INT stops the broker (exit 0).`;

/**
 * Plugins found at start: the cluster module, when built, provides
 * dist/cluster/zbroker-plugin.js exporting `plugin: BrokerPlugin`.
 */
async function loadPlugins(): Promise<BrokerPlugin[]> {
  const plugins: BrokerPlugin[] = [];
  for (const rel of ["../cluster/zbroker-plugin.js"]) {
    const url = new URL(rel, import.meta.url).href;
    try {
      const mod = (await import(url)) as { plugin?: BrokerPlugin };
      if (mod.plugin) plugins.push(mod.plugin);
    } catch (err) {
      if ((err as { code?: string }).code !== "ERR_MODULE_NOT_FOUND") throw err;
    }
  }
  return plugins;
}

export async function main(argv = process.argv.slice(2), extraPlugins: BrokerPlugin[] = []): Promise<number> {
  const plugins = [...(await loadPlugins()), ...extraPlugins];
  const options: NonNullable<ParseArgsConfig["options"]> = { ...BASE_OPTIONS };
  for (const p of plugins) Object.assign(options, p.options ?? {});
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`zbroker: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n${plugins.map((p) => p.help ?? "").join("\n")}\n`);
    return 0;
  }
  if (positionals.length > 1) {
    process.stderr.write(`zbroker: one broker name expected\n${USAGE}\n`);
    return 2;
  }
  const logger = jsonLogger(undefined, ((values["log-level"] as string | undefined) ?? "info") as LogLevel);
  const num = (v: unknown, fallback: number): number => (typeof v === "string" ? parseBytes(v) : fallback);
  // Set before the first socket exists (the global context starts with it).
  // This process is the broker's own, so the global context is ours to size.
  zmq.context.ioThreads = num(values["io-threads"], 2);
  const endpoints = (values.endpoint as string[] | undefined) ?? [];
  let socketHooks;
  try {
    socketHooks = await virtualSocketHooks(endpoints, logger);
  } catch (err) {
    logger.log("error", "start-failed", { message: (err as Error).message, code: "ZPIPES_BIND_FAILED" });
    return 1;
  }
  const broker = new ZpipesBroker({
    name: positionals[0] ?? "local",
    endpoints,
    ...(socketHooks ? { socketHooks } : {}),
    budget: num(values.budget, DEFAULT_BUDGET),
    expiry: num(values.expiry, DEFAULT_EXPIRY),
    maxChunk: num(values["max-chunk"], MAX_CHUNK),
    maxMemory: num(values["max-memory"], DEFAULT_MAX_MEMORY),
    fastPath: values["slow-path"] !== true,
    direct: values["no-direct"] !== true,
    logger,
  });
  // Signals are taken from here on: one arriving while starting stops the broker once started.
  const stopRequested = new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      logger.log("info", "signal", { signal: sig, cpuUsage: process.cpuUsage(), uptime: process.uptime() });
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      resolve();
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  // Big buffers' memory is kept for reuse rather than refaulted (see primeMallocForStreaming).
  await primeMallocForStreaming();
  try {
    await broker.start();
  } catch (err) {
    logger.log("error", "start-failed", { message: (err as Error).message, code: (err as { code?: string }).code });
    return 1;
  }
  const running: { name: string; stop(): Promise<void> }[] = [];
  for (const p of plugins) {
    const handle = await p.start(broker, values, logger);
    if (handle) running.push({ name: p.name, stop: () => handle.stop() });
  }
  await stopRequested;
  // Pending calls fail while every pipe end is attached, then plugins leave.
  broker.quiesce();
  for (const r of running.reverse()) {
    await r.stop().catch((err: unknown) => logger.log("error", "plugin-stop-failed", { plugin: r.name, message: (err as Error).message }));
  }
  await broker.stop();
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${JSON.stringify({ ts: new Date().toISOString(), level: "error", event: "crashed", message: String(err) })}\n`);
      process.exit(1);
    },
  );
}
