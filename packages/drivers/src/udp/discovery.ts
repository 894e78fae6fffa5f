/**
 * Discovery beacons (docs/protocols/udp.md §7), pure: the PROBE a seeker
 * broadcasts, the OFFER an acceptor answers with (only to compatible
 * seekers), and reading either from a datagram.
 */
import { DecodeError, UDP_ERR } from "./codec-errors.js";
import { dispatchCommands, encodeControlDatagram, parseDatagram, type BeaconCommand } from "./codec.js";
import { socketTypesCompatible, type SocketType } from "./socket-type.js";
import { BEACON } from "./wire-constants.js";

/** The datagram a seeker broadcasts every beacon interval. */
export function probeDatagram(tag: number, socketType: SocketType): Uint8Array {
  return encodeControlDatagram(tag, 0, [{ type: "BEACON", kind: BEACON.PROBE, socketType }]);
}

/** The datagram an acceptor of `socketType` answers a probe with. */
export function offerDatagram(tag: number, socketType: SocketType): Uint8Array {
  return encodeControlDatagram(tag, 0, [{ type: "BEACON", kind: BEACON.OFFER, socketType }]);
}

/**
 * The BEACON in a datagram, if that is all it holds; undefined for any other
 * valid datagram. Throws DecodeError (UDP_*) for a malformed one.
 */
export function readBeacon(datagram: Uint8Array): (BeaconCommand & { tag: number }) | undefined {
  const header = parseDatagram(datagram);
  let beacon: BeaconCommand | undefined;
  let others = 0;
  dispatchCommands(datagram, header.bodyOffset, {
    message: () => void others++,
    fragment: () => void others++,
    control: (cmd) => {
      if (cmd.type === "BEACON" && beacon === undefined) beacon = cmd;
      else others++;
    },
  });
  if (beacon === undefined || others > 0) return undefined;
  if (header.reliable) throw new DecodeError(UDP_ERR.BAD_CLASS, "a beacon in a reliable datagram", 3, "flags");
  return { ...beacon, tag: header.session };
}

/**
 * §7: an acceptor's answer to a datagram on its bound socket that is a PROBE:
 * the OFFER to send back to its source, or undefined (not a probe, or a
 * seeker it could not talk to; it stays silent then).
 */
export function answerProbe(datagram: Uint8Array, tag: number, socketType: SocketType): Uint8Array | undefined {
  let beacon: ReturnType<typeof readBeacon>;
  try {
    beacon = readBeacon(datagram);
  } catch {
    return undefined;
  }
  if (beacon?.kind !== BEACON.PROBE || !socketTypesCompatible(socketType, beacon.socketType)) return undefined;
  return offerDatagram(tag, socketType);
}
