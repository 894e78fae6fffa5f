// A ZRE node in its own process, driven by a test: options as JSON in argv[2];
// prints `{"ready":endpoint,id}` then every event as one JSON line; takes
// commands as JSON lines on stdin: {"join":g} {"leave":g} {"whisper":[peer,text]}
// {"shout":[group,text]} {"stop":true}.
import { createInterface } from "node:readline";
import { ZreNode, type ZreNodeOptions } from "../../../src/zre/node.js";

const opts = JSON.parse(process.argv[2] ?? "{}") as ZreNodeOptions & { groups?: string[] };
const node = new ZreNode(opts);
node.on((ev) => {
  const out = "content" in ev ? { ...ev, content: ev.content.map((c) => c.toString()) } : ev;
  process.stdout.write(JSON.stringify(out) + "\n");
});
await node.start();
for (const g of opts.groups ?? []) node.join(g);
process.stdout.write(JSON.stringify({ ready: node.endpoint, id: node.id }) + "\n");

for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line) as { join?: string; leave?: string; whisper?: [string, string]; shout?: [string, string]; stop?: boolean };
  if (cmd.join) node.join(cmd.join);
  if (cmd.leave) node.leave(cmd.leave);
  if (cmd.whisper) await node.whisper(cmd.whisper[0], [cmd.whisper[1]]);
  if (cmd.shout) await node.shout(cmd.shout[0], [cmd.shout[1]]);
  if (cmd.stop) break;
}
await node.stop();
process.exit(0);
