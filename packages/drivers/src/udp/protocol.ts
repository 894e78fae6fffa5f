/**
 * The VXU/1 protocol layer of the udp:// driver (docs/protocols/udp.md):
 * pure codec and state machines, no sockets, no clocks. The driver wraps
 * these around a `dgram` socket.
 */
export * from "./wire-constants.js";
export { UDP_ERR, type UdpErrorCode } from "./codec-errors.js";
export {
  SOCKET_TYPES,
  socketTypeCode,
  socketTypeFromCode,
  socketTypesCompatible,
  type SocketType,
} from "./socket-type.js";
export { seqAdd, seqDiff } from "./sequence.js";
export { emptyHeader, emptyRoom, readHeader, sealDatagram, type DatagramHeader } from "./header.js";
export { decodeFrames, messageBodySize, scanFrames, writeFrames } from "./frames.js";
export {
  checkFragmentFields,
  controlCommandSize,
  decodeDatagram,
  dispatchCommands,
  encodeControlDatagram,
  encodeControlRoom,
  parseDatagram,
  writeControlCommand,
  type BeaconCommand,
  type ByeCommand,
  type ControlCommand,
  type DatagramSink,
  type DecodeLimits,
  type HelloCommand,
  type PingCommand,
  type RefuseCommand,
  type SubscriptionCommand,
  type UnreliableOnlyCommand,
} from "./codec.js";
export { Batcher, type BatcherOptions, type RoomSink } from "./batcher.js";
export {
  Reassembler,
  ReassemblyBudget,
  type ReassemblerOptions,
  type ReassemblerStats,
  type ReassemblyDropCode,
} from "./reassembler.js";
export {
  ReliableChannel,
  type DeliverFn,
  type ReceiveOutcome,
  type ReliableChannelOptions,
  type ReliableChannelStats,
} from "./reliable-channel.js";
export {
  DEFAULT_HEARTBEAT,
  DEFAULT_TIMEOUT,
  DEFAULT_WINDOW,
  HelloRetry,
  helloFor,
  judgeHello,
  negotiate,
  type HelloVerdict,
  type NegotiatedSession,
  type SessionConfig,
} from "./handshake.js";
export { Liveness, LATE_MS } from "./liveness.js";
export { DEFAULT_LOOPBACK_MAX_DATAGRAM, defaultMaxDatagram, isLoopbackAddress } from "./datagram-size.js";
export { UdpPeer, type PeerEvents, type PeerOptions, type PeerState } from "./udp-peer.js";
export { answerProbe, offerDatagram, probeDatagram, readBeacon } from "./discovery.js";
