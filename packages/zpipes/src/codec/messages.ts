import type { MSG } from "./constants.js";

/**
 * The 21 ZPIPES messages as plain data. Field names follow the ABNF.
 * Strings are carried as UTF-8 (the original never checks VCHAR, nor do we).
 * `chunk` is a Buffer view into the frame when decoded (no copy).
 */
export type ZpipesMessage =
  | { type: "INPUT"; pipename: string }
  | { type: "INPUT_OK" }
  | { type: "INPUT_FAILED"; reason: string }
  | { type: "OUTPUT"; pipename: string }
  | { type: "OUTPUT_OK" }
  | { type: "OUTPUT_FAILED"; reason: string }
  | { type: "READ"; size: number; timeout: number }
  | { type: "READ_OK"; chunk: Uint8Array }
  | { type: "READ_END" }
  | { type: "READ_TIMEOUT" }
  | { type: "READ_FAILED"; reason: string }
  | { type: "WRITE"; chunk: Uint8Array; timeout: number }
  | { type: "WRITE_OK" }
  | { type: "WRITE_TIMEOUT" }
  | { type: "WRITE_FAILED"; reason: string }
  | { type: "CLOSE" }
  | { type: "CLOSE_OK" }
  | { type: "CLOSE_FAILED"; reason: string }
  | { type: "PING" }
  | { type: "PING_OK" }
  | { type: "INVALID" };

export type ZpipesMessageOf<T extends ZpipesMessage["type"]> = Extract<ZpipesMessage, { type: T }>;

/** Messages a client sends. */
export type ClientCommand = ZpipesMessageOf<"INPUT" | "OUTPUT" | "READ" | "WRITE" | "CLOSE" | "PING">;
/** Messages a broker sends. */
export type BrokerReply = Exclude<ZpipesMessage, ClientCommand>;

/** Compile-time check that every name in MSG has a message shape. */
export type _AllNamed = ZpipesMessage["type"] extends keyof typeof MSG
  ? keyof typeof MSG extends ZpipesMessage["type"]
    ? true
    : never
  : never;
