import * as zmq from "zeromq";
import { VtxError } from "./errors.js";

/** The classic ØMQ socket type names accepted by {@link Vtx.socket}. */
export type SocketTypeName =
  | "PAIR" | "PUB" | "SUB" | "XPUB" | "XSUB" | "REQ" | "REP" | "DEALER" | "ROUTER" | "PUSH" | "PULL";

export const SOCKET_TYPE_NAMES: readonly SocketTypeName[] = [
  "PAIR", "PUB", "SUB", "XPUB", "XSUB", "REQ", "REP", "DEALER", "ROUTER", "PUSH", "PULL",
];

/** Maps a type name to the zeromq.js class users get back. */
export interface SocketClassMap {
  PAIR: zmq.Pair; PUB: zmq.Publisher; SUB: zmq.Subscriber; XPUB: zmq.XPublisher; XSUB: zmq.XSubscriber;
  REQ: zmq.Request; REP: zmq.Reply; DEALER: zmq.Dealer; ROUTER: zmq.Router; PUSH: zmq.Push; PULL: zmq.Pull;
}

export type AnySocket = SocketClassMap[SocketTypeName];

export function isSocketTypeName(s: string): s is SocketTypeName {
  return (SOCKET_TYPE_NAMES as readonly string[]).includes(s);
}

export function createSocket<T extends SocketTypeName>(type: T, options?: object): SocketClassMap[T] {
  const opts = options as never;
  switch (type) {
    case "PAIR": return new zmq.Pair(opts) as SocketClassMap[T];
    case "PUB": return new zmq.Publisher(opts) as SocketClassMap[T];
    case "SUB": return new zmq.Subscriber(opts) as SocketClassMap[T];
    case "XPUB": return new zmq.XPublisher(opts) as SocketClassMap[T];
    case "XSUB": return new zmq.XSubscriber(opts) as SocketClassMap[T];
    case "REQ": return new zmq.Request(opts) as SocketClassMap[T];
    case "REP": return new zmq.Reply(opts) as SocketClassMap[T];
    case "DEALER": return new zmq.Dealer(opts) as SocketClassMap[T];
    case "ROUTER": return new zmq.Router(opts) as SocketClassMap[T];
    case "PUSH": return new zmq.Push(opts) as SocketClassMap[T];
    case "PULL": return new zmq.Pull(opts) as SocketClassMap[T];
  }
  throw new VtxError("VTX_SOCKET_TYPE", `unknown socket type "${String(type)}"`);
}

/** The type name of an existing zeromq.js socket (ZMQ_TYPE). */
export function socketTypeOf(socket: zmq.Socket): SocketTypeName {
  const t = (socket as unknown as { type: number }).type;
  const name = ZMQ_TYPE_NAMES[t];
  if (!name) throw new VtxError("VTX_SOCKET_TYPE", `socket type ${t} is not supported by vtx`);
  return name;
}

// zmq.h socket type numbers.
const ZMQ_TYPE_NAMES: Record<number, SocketTypeName> = {
  0: "PAIR", 1: "PUB", 2: "SUB", 3: "REQ", 4: "REP", 5: "DEALER", 6: "ROUTER", 7: "PULL", 8: "PUSH", 9: "XPUB", 10: "XSUB",
};

/**
 * Every bridge connects to the application socket's one inproc bind (see
 * docs/architecture.md for why the app binds and bridges connect).
 */
export interface BridgePlan {
  readonly bridgeType: SocketTypeName;
}

/** The bridge table of DESIGN.md. */
export function bridgePlan(app: SocketTypeName): BridgePlan {
  switch (app) {
    case "REQ": case "DEALER": return { bridgeType: "ROUTER" };
    case "REP": case "ROUTER": return { bridgeType: "DEALER" };
    case "PUB": case "XPUB": return { bridgeType: "XSUB" };
    case "SUB": case "XSUB": return { bridgeType: "XPUB" };
    case "PUSH": return { bridgeType: "PULL" };
    case "PULL": return { bridgeType: "PUSH" };
    case "PAIR": return { bridgeType: "PAIR" };
  }
}
