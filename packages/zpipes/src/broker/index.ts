export { ZpipesBroker, brokerEndpoint, DEFAULT_BUDGET, DEFAULT_EXPIRY, DEFAULT_MAX_MEMORY, DEFAULT_MAX_PIPELINED } from "./broker.js";
export type { BrokerOptions, BrokerStats, BrokerSocketHooks } from "./broker.js";
export { Pipe, type PipeEnd, type EndState, type PipeOptions } from "./pipe.js";
export { PipeRegistry, type PipeRegistryEvents, type OpenResult, type PipeRegistryOptions } from "./pipe-registry.js";
export { clientMachine, type ClientEvent, type ClientHooks, type ClientState } from "./client-machine.js";
