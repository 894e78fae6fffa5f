/**
 * @vtx/zpipes — ZPIPES (seed 002): reliable named pipes through a broker.
 * Codec, broker (`zbroker`), client and Node-stream adapters.
 */
export * from "./codec/index.js";
export * from "./broker/index.js";
export type { BrokerPlugin } from "./broker/plugin.js";
export * from "./client/index.js";
export { ZPIPES_ERR, type ZpipesErrorCode } from "./errors.js";
export { jsonLogger, silentLogger, memoryLogger, type Logger, type LogLevel } from "./log.js";
export { primeMallocForStreaming } from "@vtx/runtime/malloc-tuning";
