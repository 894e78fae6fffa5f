export { ZreNode, ZRE_DISCOVERY_PORT, type ZreNodeOptions, type ZreBeaconOptions, type ZrePeerInfo, type ZreListener } from "./node.js";
export type { ZreEvent, ZreEventType, ZreExitReason, ZreLogRecord } from "./events.js";
export {
  encodeZre,
  encodeWhisper,
  decodeZre,
  ZreDecoder,
  encodeRoutingId,
  decodeRoutingId,
  ZreId,
  ZRE_VERSION,
  MAX_ZRE_COMMAND_BYTES,
  MAX_ZRE_LIST_ITEMS,
  MAX_ZRE_CONTENT_FRAMES,
  type ZreMessage,
  type ZreHello,
  type ZreWhisper,
  type ZreShout,
  type ZreJoin,
  type ZreLeave,
  type ZrePing,
  type ZrePingOk,
} from "./codec.js";
export { encodeBeacon, decodeBeacon, ZRE_BEACON_SIZE, ZRE_BEACON_VERSION, type ZreBeacon } from "./beacon-codec.js";
