// Lets a child process started by a test run this package's TypeScript
// sources directly: `node --import ./ts-loader.mjs child.ts`. Node 20 cannot
// strip types itself, so each .ts module is transpiled (no type check) with
// the workspace's TypeScript; `./x.js` imports resolve to `./x.ts` when only
// the source exists, as the sources are written for NodeNext.
import { register } from "node:module";

register("./ts-hooks.mjs", import.meta.url);
