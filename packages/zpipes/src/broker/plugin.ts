import type { ParseArgsConfig } from "node:util";
import type { Logger } from "../log.js";
import type { ZpipesBroker } from "./broker.js";

/**
 * An add-on the `zbroker` command starts beside the broker (clustering is
 * one). It contributes command-line options and gets the running broker,
 * whose {@link ZpipesBroker.registry} is the seam to the pipe table.
 */
export interface BrokerPlugin {
  readonly name: string;
  /** Extra options for node:util parseArgs (e.g. `--cluster`, `--gossip`). */
  readonly options?: NonNullable<ParseArgsConfig["options"]>;
  /** Lines for `zbroker --help`. */
  readonly help?: string;
  /**
   * Start after the broker is bound; return undefined to stay inactive (e.g.
   * its options were not given). `stop` runs on TERM/INT before the broker
   * stops.
   */
  start(
    broker: ZpipesBroker,
    values: Record<string, string | boolean | (string | boolean)[] | undefined>,
    logger: Logger,
  ): Promise<{ stop(): Promise<void> } | undefined>;
}
