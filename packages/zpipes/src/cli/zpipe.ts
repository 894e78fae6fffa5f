#!/usr/bin/env node
/**
 * zpipe — named pipes through a ZPIPES broker.
 *
 *   cat file | zpipe write NAME      stdin into pipe NAME
 *   zpipe read NAME > file           pipe NAME to stdout
 *
 * A progress line goes to stderr on long transfers when stderr is a TTY, or
 * always with --progress.
 */
import { primeMallocForStreaming } from "@vtx/runtime/malloc-tuning";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ZpipesClient } from "../client/zpipes-client.js";
import { createReadStream, createWriteStream } from "../client/streams.js";
import { parseBytes } from "./parse-bytes.js";
import { virtualClientHooks } from "./virtual-endpoints.js";

const USAGE = `usage: zpipe write NAME [options] < input
       zpipe read NAME [options] > output

  -B, --broker NAME      broker name (default: local)
  -E, --endpoint EP      broker endpoint (overrides --broker); ztcp://, ws://,
                         udp:// go through a vtx driver
  -t, --timeout MS       per-call timeout, 0 = wait forever (default 0)
  -c, --connect-timeout MS  how long to wait for the broker (default 5000)
  -s, --chunk-size BYTES read size (default 64k)
  -p, --progress         progress on stderr even when it is not a TTY
  -q, --quiet            no progress line`;

/** Counts bytes through and reports them on stderr at most every `every` ms. */
function progressMeter(label: string, live: boolean, every: number): { meter: Transform; done: () => void } {
  let bytes = 0;
  const t0 = Date.now();
  let last = 0;
  const tty = process.stderr.isTTY === true;
  const line = (final: boolean): string => {
    const secs = (Date.now() - t0) / 1000;
    const mb = bytes / 1e6;
    const rate = secs > 0 ? mb / secs : 0;
    return `zpipe ${label}: ${mb.toFixed(1)} MB in ${secs.toFixed(1)} s (${rate.toFixed(1)} MB/s)${final ? " done" : ""}`;
  };
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      const now = Date.now();
      // "Long" transfers only: nothing during the first second.
      if (live && now - t0 >= 1000 && now - last >= every) {
        last = now;
        process.stderr.write(tty ? `\r${line(false)}` : `${line(false)}\n`);
      }
      cb(null, chunk);
    },
  });
  return {
    meter,
    done: () => {
      if (live && (last > 0 || !tty)) process.stderr.write(tty ? `\r${line(true)}\n` : `${line(true)}\n`);
    },
  };
}

export async function main(argv = process.argv.slice(2)): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        broker: { type: "string", short: "B" },
        endpoint: { type: "string", short: "E" },
        timeout: { type: "string", short: "t" },
        "connect-timeout": { type: "string", short: "c" },
        "chunk-size": { type: "string", short: "s" },
        progress: { type: "boolean", short: "p" },
        quiet: { type: "boolean", short: "q" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    process.stderr.write(`zpipe: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [verb, name] = positionals;
  if ((verb !== "read" && verb !== "write") || name === undefined || positionals.length !== 2) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const socketHooks = values.endpoint !== undefined ? await virtualClientHooks(values.endpoint) : undefined;
  const clientOptions = {
    ...(values.broker !== undefined ? { broker: values.broker } : {}),
    ...(values.endpoint !== undefined ? { endpoint: values.endpoint } : {}),
    ...(socketHooks ? { socketHooks } : {}),
    connectTimeout: values["connect-timeout"] !== undefined ? Number(values["connect-timeout"]) : 5000,
  };
  const timeout = values.timeout !== undefined ? Number(values.timeout) : 0;
  const live = !values.quiet && (values.progress === true || process.stderr.isTTY === true);
  const { meter, done } = progressMeter(`${verb} ${name}`, live, 500);
  await primeMallocForStreaming();
  try {
    if (verb === "write") {
      const client = await ZpipesClient.openWriter(name, clientOptions);
      await pipeline(process.stdin, meter, createWriteStream(client, { timeout }));
    } else {
      const client = await ZpipesClient.openReader(name, clientOptions);
      const chunkSize = values["chunk-size"] !== undefined ? parseBytes(values["chunk-size"]) : 64 * 1024;
      await pipeline(createReadStream(client, { chunkSize }), meter, process.stdout);
    }
    done();
    return 0;
  } catch (err) {
    const e = err as { code?: string; message: string };
    process.stderr.write(`zpipe: ${e.code ? `${e.code}: ` : ""}${e.message}\n`);
    return 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`zpipe: ${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
