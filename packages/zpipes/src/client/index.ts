export { ZpipesClient, type ZpipesClientOptions, type ClientSocketHooks, type PipeMode } from "./zpipes-client.js";
export {
  createReadStream,
  createWriteStream,
  openReadStream,
  openWriteStream,
  type PipeReadableOptions,
  type PipeWritableOptions,
} from "./streams.js";
