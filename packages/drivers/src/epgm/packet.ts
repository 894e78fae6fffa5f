/**
 * Encode and decode PGM packets (RFC 3208) as carried in UDP by OpenPGM's
 * encapsulation: the UDP payload is the PGM packet, header first, no IP
 * header (docs/protocols/epgm.md §2). Pure: no I/O, no clocks.
 *
 * {@link decodePacket} checks everything it returns (lengths, checksum,
 * options, NLAs) and throws a DecodeError with an EPGM_* code, the byte
 * offset and the field; data and NLAs are views into the packet.
 */
import { readU16, readU32, writeU16, writeU32 } from "../udp/bytes.js";
import { csumFold, csumPartial, pgmChecksum } from "./checksum.js";
import { DecodeError, EPGM_ERR, VtxError } from "./codec-errors.js";
import {
  AFI_IP,
  AFI_IP6,
  DATA_BODY_SIZE,
  GSI_SIZE,
  HEADER_SIZE,
  MAX_NAK_LIST,
  NAK_BODY_SIZE,
  OPT,
  OPT_END,
  OPT_FLAG,
  OPT_FRAGMENT_SIZE,
  OPT_LENGTH_SIZE,
  PGM_TYPE,
  SPM_BODY_SIZE,
} from "./wire-constants.js";

/** §8 common header. `gsi` is a view of the packet's 6 GSI octets. */
export interface PgmHeader {
  sport: number;
  dport: number;
  type: number;
  options: number;
  checksum: number;
  gsi: Uint8Array;
  tsduLength: number;
}

/** A network-layer address: IPv4 dotted quad or IPv6 text. */
export type Nla = string;

/** §9.3 OPT_FRAGMENT: this TPDU is `length` octets at `offset` of an APDU of `apduLength` starting at `first`. */
export interface Fragment {
  first: number;
  offset: number;
  apduLength: number;
}

export interface SpmPacket {
  kind: "SPM";
  header: PgmHeader;
  sqn: number;
  trail: number;
  lead: number;
  nla: Nla;
}

export interface DataPacket {
  kind: "ODATA" | "RDATA";
  header: PgmHeader;
  sqn: number;
  trail: number;
  /** The TSDU (view). */
  data: Uint8Array;
  fragment: Fragment | undefined;
}

export interface NakPacket {
  kind: "NAK" | "NCF" | "NNAK";
  header: PgmHeader;
  /** The NAK's own sequence number, then any from OPT_NAK_LIST. */
  sqns: number[];
  sourceNla: Nla;
  groupNla: Nla;
}

export interface SpmrPacket {
  kind: "SPMR";
  header: PgmHeader;
}

/** POLL, POLR, ACK: well-formed, not acted on. */
export interface OtherPacket {
  kind: "OTHER";
  header: PgmHeader;
}

export type PgmPacket = SpmPacket | DataPacket | NakPacket | SpmrPacket | OtherPacket;

/** What identifies a session: the source's GSI and data-source port, and the data-destination port. */
export interface SessionIds {
  gsi: Uint8Array;
  /** Data-source port (the TSI's sport). */
  sport: number;
  /** Data-destination port (libzmq: the endpoint's port). */
  dport: number;
}

const KNOWN_TYPES: ReadonlySet<number> = new Set<number>(Object.values(PGM_TYPE));

const fail = (code: string, what: string, off: number, state: string): DecodeError => new DecodeError(code, what, off, state);

// ---- decoding ---------------------------------------------------------------------------------------------------

/** Decodes and verifies one PGM packet (the whole UDP payload). Throws DecodeError (EPGM_*). */
export function decodePacket(p: Uint8Array): PgmPacket {
  if (p.length < HEADER_SIZE) throw fail(EPGM_ERR.TRUNCATED, `packet of ${p.length} octets is shorter than the PGM header`, p.length, "header");
  const typeOctet = p[4] as number;
  const header: PgmHeader = {
    sport: readU16(p, 0),
    dport: readU16(p, 2),
    type: typeOctet,
    options: p[5] as number,
    checksum: readU16(p, 6),
    gsi: p.subarray(8, 8 + GSI_SIZE),
    tsduLength: readU16(p, 14),
  };
  // The high nibble is the version (0); the rest must be a known type.
  if (!KNOWN_TYPES.has(typeOctet)) throw fail(EPGM_ERR.BAD_TYPE, `type octet 0x${typeOctet.toString(16)} is not a PGM packet type`, 4, "type");
  if (header.checksum !== 0) {
    const sum = csumFold(csumPartial(p, 8, p.length, csumPartial(p, 0, 6)));
    if (sum !== header.checksum) throw fail(EPGM_ERR.BAD_CHECKSUM, `checksum 0x${header.checksum.toString(16)} where 0x${sum.toString(16)} was computed`, 6, "checksum");
  } else if (typeOctet === PGM_TYPE.ODATA || typeOctet === PGM_TYPE.RDATA) {
    throw fail(EPGM_ERR.NO_CHECKSUM, "data packet without a checksum", 6, "checksum");
  }
  switch (typeOctet) {
    case PGM_TYPE.SPM:
      return decodeSpm(p, header);
    case PGM_TYPE.ODATA:
    case PGM_TYPE.RDATA:
      return decodeData(p, header);
    case PGM_TYPE.NAK:
    case PGM_TYPE.NCF:
    case PGM_TYPE.NNAK:
      return decodeNak(p, header);
    case PGM_TYPE.SPMR:
      if (header.options & OPT_FLAG.PRESENT) readOptions(p, HEADER_SIZE);
      return { kind: "SPMR", header };
    default:
      return { kind: "OTHER", header };
  }
}

/** Reads an NLA (AFI, reserved, address) at `at`; returns the address and the offset after it. */
function readNla(p: Uint8Array, at: number, state: string): [Nla, number] {
  if (at + 4 > p.length) throw fail(EPGM_ERR.TRUNCATED, "packet ends inside an NLA", p.length, state);
  const afi = readU16(p, at);
  if (afi === AFI_IP) {
    if (at + 8 > p.length) throw fail(EPGM_ERR.TRUNCATED, "packet ends inside an IPv4 NLA", p.length, state);
    return [`${p[at + 4]}.${p[at + 5]}.${p[at + 6]}.${p[at + 7]}`, at + 8];
  }
  if (afi === AFI_IP6) {
    if (at + 20 > p.length) throw fail(EPGM_ERR.TRUNCATED, "packet ends inside an IPv6 NLA", p.length, state);
    const parts: string[] = [];
    for (let i = 0; i < 8; i++) parts.push(readU16(p, at + 4 + 2 * i).toString(16));
    return [parts.join(":"), at + 20];
  }
  throw fail(EPGM_ERR.BAD_AFI, `NLA address family ${afi}`, at, state);
}

function decodeSpm(p: Uint8Array, header: PgmHeader): SpmPacket {
  const at = HEADER_SIZE;
  if (at + 12 > p.length) throw fail(EPGM_ERR.TRUNCATED, "packet ends inside the SPM", p.length, "spm");
  const [nla, end] = readNla(p, at + 12, "spm-nla");
  if (header.options & OPT_FLAG.PRESENT) readOptions(p, end);
  return { kind: "SPM", header, sqn: readU32(p, at), trail: readU32(p, at + 4), lead: readU32(p, at + 8), nla };
}

function decodeData(p: Uint8Array, header: PgmHeader): DataPacket {
  const at = HEADER_SIZE;
  if (at + DATA_BODY_SIZE > p.length) throw fail(EPGM_ERR.TRUNCATED, "packet ends inside the data header", p.length, "data");
  let dataAt = at + DATA_BODY_SIZE;
  let fragment: Fragment | undefined;
  if (header.options & OPT_FLAG.PRESENT) {
    const opts = readOptions(p, dataAt);
    dataAt += opts.total;
    fragment = opts.fragment;
  }
  const data = p.subarray(dataAt);
  if (data.length !== header.tsduLength) {
    throw fail(EPGM_ERR.BAD_LENGTH, `TSDU length ${header.tsduLength} but ${data.length} octets of data`, 14, "tsdu-length");
  }
  if (fragment !== undefined && (fragment.offset + data.length > fragment.apduLength || data.length === 0)) {
    throw fail(EPGM_ERR.BAD_OPTION, `fragment at ${fragment.offset} of ${data.length} octets overruns its APDU of ${fragment.apduLength}`, dataAt, "opt-fragment");
  }
  const kind = header.type === PGM_TYPE.ODATA ? "ODATA" : "RDATA";
  return { kind, header, sqn: readU32(p, at), trail: readU32(p, at + 4), data, fragment };
}

function decodeNak(p: Uint8Array, header: PgmHeader): NakPacket {
  const at = HEADER_SIZE;
  if (at + 4 > p.length) throw fail(EPGM_ERR.TRUNCATED, "packet ends inside the NAK", p.length, "nak");
  const [sourceNla, afterSrc] = readNla(p, at + 4, "nak-source-nla");
  const [groupNla, end] = readNla(p, afterSrc, "nak-group-nla");
  const sqns = [readU32(p, at)];
  if (header.options & OPT_FLAG.PRESENT) {
    const opts = readOptions(p, end);
    if (opts.nakList !== undefined) sqns.push(...opts.nakList);
  }
  const kind = header.type === PGM_TYPE.NAK ? "NAK" : header.type === PGM_TYPE.NCF ? "NCF" : "NNAK";
  return { kind, header, sqns, sourceNla, groupNla };
}

interface Options {
  /** OPT_LENGTH's total: octets of options, OPT_LENGTH included. */
  total: number;
  fragment: Fragment | undefined;
  nakList: number[] | undefined;
}

/**
 * §9: the option extensions at `at`: OPT_LENGTH first (type 0, length 4,
 * 16-bit total), then options each with type (E bit on the last), length
 * and an OPX/U octet, until the E bit. Every length must agree.
 */
function readOptions(p: Uint8Array, at: number): Options {
  if (at + OPT_LENGTH_SIZE > p.length) throw fail(EPGM_ERR.TRUNCATED, "packet ends inside OPT_LENGTH", p.length, "opt-length");
  if (((p[at] as number) & 0x7f) !== OPT.LENGTH || p[at + 1] !== OPT_LENGTH_SIZE) {
    throw fail(EPGM_ERR.BAD_OPTION, "options present but the first is not a 4-octet OPT_LENGTH", at, "opt-length");
  }
  const total = readU16(p, at + 2);
  if (total < OPT_LENGTH_SIZE + 3 || at + total > p.length) {
    throw fail(EPGM_ERR.BAD_LENGTH, `OPT_LENGTH total ${total} does not fit the packet`, at + 2, "opt-length");
  }
  const end = at + total;
  let o = at + OPT_LENGTH_SIZE;
  let fragment: Fragment | undefined;
  let nakList: number[] | undefined;
  for (let n = 0; ; n++) {
    if (o + 3 > end || n > 16) throw fail(EPGM_ERR.BAD_OPTION, "options run past OPT_LENGTH's total without OPT_END", o, "option");
    const typeOctet = p[o] as number;
    const len = p[o + 1] as number;
    if (len < 3 || o + len > end) throw fail(EPGM_ERR.BAD_LENGTH, `option length ${len}`, o + 1, "option-length");
    const type = typeOctet & 0x7f;
    if (type === OPT.FRAGMENT) {
      if (len !== OPT_FRAGMENT_SIZE) throw fail(EPGM_ERR.BAD_OPTION, `OPT_FRAGMENT of ${len} octets`, o + 1, "opt-fragment");
      fragment = { first: readU32(p, o + 4), offset: readU32(p, o + 8), apduLength: readU32(p, o + 12) };
    } else if (type === OPT.NAK_LIST) {
      const count = (len - 4) / 4;
      if (len < 8 || !Number.isInteger(count) || count > MAX_NAK_LIST) throw fail(EPGM_ERR.BAD_OPTION, `OPT_NAK_LIST of ${len} octets`, o + 1, "opt-nak-list");
      nakList = [];
      for (let i = 0; i < count; i++) nakList.push(readU32(p, o + 4 + 4 * i));
    } else if (type === OPT.LENGTH) {
      throw fail(EPGM_ERR.BAD_OPTION, "a second OPT_LENGTH", o, "option");
    }
    o += len;
    if (typeOctet & OPT_END) break;
  }
  if (o !== end) throw fail(EPGM_ERR.BAD_LENGTH, `options end at ${o - at}, OPT_LENGTH says ${total}`, at + 2, "opt-length");
  return { total, fragment, nakList };
}

// ---- encoding ---------------------------------------------------------------------------------------------------

function writeHeader(p: Uint8Array, s: { sport: number; dport: number; gsi: Uint8Array }, type: number, options: number, tsduLength: number): void {
  writeU16(p, 0, s.sport);
  writeU16(p, 2, s.dport);
  p[4] = type;
  p[5] = options;
  writeU16(p, 6, 0);
  if (s.gsi.length !== GSI_SIZE) throw new VtxError(EPGM_ERR.ENCODE_RANGE, `GSI must be ${GSI_SIZE} octets`);
  p.set(s.gsi, 8);
  writeU16(p, 14, tsduLength);
}

function seal(p: Uint8Array): Uint8Array {
  writeU16(p, 6, pgmChecksum(p));
  return p;
}

function writeNla(p: Uint8Array, at: number, nla: Nla): number {
  const parts = nla.split(".");
  if (parts.length !== 4) throw new VtxError(EPGM_ERR.ENCODE_RANGE, `only IPv4 NLAs are encoded, not "${nla}"`);
  writeU16(p, at, AFI_IP);
  writeU16(p, at + 2, 0);
  for (let i = 0; i < 4; i++) {
    const v = Number(parts[i]);
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new VtxError(EPGM_ERR.ENCODE_RANGE, `bad IPv4 NLA "${nla}"`);
    p[at + 4 + i] = v;
  }
  return at + 8;
}

/** §8.1 SPM, downstream (sport = data-source port, dport = data-destination port). */
export function encodeSpm(s: SessionIds, sqn: number, trail: number, lead: number, nla: Nla): Uint8Array {
  const p = new Uint8Array(HEADER_SIZE + SPM_BODY_SIZE);
  writeHeader(p, s, PGM_TYPE.SPM, 0, 0);
  writeU32(p, 16, sqn);
  writeU32(p, 20, trail);
  writeU32(p, 24, lead);
  writeNla(p, 28, nla);
  return seal(p);
}

/** Octets ODATA/RDATA add before the TSDU (no options). */
export const DATA_OVERHEAD = HEADER_SIZE + DATA_BODY_SIZE;

/** §8.2 ODATA or RDATA carrying `tsdu`, without options (one APDU per TPDU, as libzmq sends). */
export function encodeData(s: SessionIds, kind: "ODATA" | "RDATA", sqn: number, trail: number, tsdu: Uint8Array, fragment?: Fragment): Uint8Array {
  if (tsdu.length > 0xffff) throw new VtxError(EPGM_ERR.ENCODE_RANGE, `TSDU of ${tsdu.length} octets`);
  const opt = fragment === undefined ? 0 : OPT_LENGTH_SIZE + OPT_FRAGMENT_SIZE;
  const p = new Uint8Array(DATA_OVERHEAD + opt + tsdu.length);
  writeHeader(p, s, kind === "ODATA" ? PGM_TYPE.ODATA : PGM_TYPE.RDATA, fragment === undefined ? 0 : OPT_FLAG.PRESENT | OPT_FLAG.NETWORK, tsdu.length);
  writeU32(p, 16, sqn);
  writeU32(p, 20, trail);
  if (fragment !== undefined) {
    const o = DATA_OVERHEAD;
    p[o] = OPT.LENGTH;
    p[o + 1] = OPT_LENGTH_SIZE;
    writeU16(p, o + 2, opt);
    p[o + 4] = OPT.FRAGMENT | OPT_END;
    p[o + 5] = OPT_FRAGMENT_SIZE;
    writeU32(p, o + 8, fragment.first);
    writeU32(p, o + 12, fragment.offset);
    writeU32(p, o + 16, fragment.apduLength);
  }
  p.set(tsdu, DATA_OVERHEAD + opt);
  return seal(p);
}

/**
 * §8.3 NAK (upstream: sport = data-destination port, dport = the source's
 * data-source port, GSI = the source's) or NCF (downstream, from the
 * source). `sqns[0]` goes in the body, up to 62 more in OPT_NAK_LIST.
 */
export function encodeNak(s: SessionIds, kind: "NAK" | "NCF", sqns: readonly number[], sourceNla: Nla, groupNla: Nla): Uint8Array {
  if (sqns.length < 1 || sqns.length > MAX_NAK_LIST + 1) throw new VtxError(EPGM_ERR.ENCODE_RANGE, `a NAK carries 1..${MAX_NAK_LIST + 1} sequence numbers`);
  const list = sqns.length - 1;
  const opt = list === 0 ? 0 : OPT_LENGTH_SIZE + 4 + 4 * list;
  const p = new Uint8Array(HEADER_SIZE + NAK_BODY_SIZE + opt);
  const ports = kind === "NAK" ? { sport: s.dport, dport: s.sport, gsi: s.gsi } : s;
  writeHeader(p, ports, kind === "NAK" ? PGM_TYPE.NAK : PGM_TYPE.NCF, list === 0 ? 0 : OPT_FLAG.PRESENT | OPT_FLAG.NETWORK, 0);
  writeU32(p, 16, sqns[0] as number);
  const at = writeNla(p, 20, sourceNla);
  const end = writeNla(p, at, groupNla);
  if (list > 0) {
    p[end] = OPT.LENGTH;
    p[end + 1] = OPT_LENGTH_SIZE;
    writeU16(p, end + 2, opt);
    p[end + 4] = OPT.NAK_LIST | OPT_END;
    p[end + 5] = 4 + 4 * list;
    for (let i = 1; i < sqns.length; i++) writeU32(p, end + 8 + 4 * (i - 1), sqns[i] as number);
  }
  return seal(p);
}

/** §13.6 SPMR, upstream (as a NAK's ports). */
export function encodeSpmr(s: SessionIds): Uint8Array {
  const p = new Uint8Array(HEADER_SIZE);
  writeHeader(p, { sport: s.dport, dport: s.sport, gsi: s.gsi }, PGM_TYPE.SPMR, 0, 0);
  return seal(p);
}

/** The TSI as text: GSI octets in hex, a dot, the data-source port. */
export function tsiKey(gsi: Uint8Array, sport: number): string {
  let h = "";
  for (const b of gsi) h += b.toString(16).padStart(2, "0");
  return `${h}.${sport}`;
}

/** True when two GSIs are the same octets. */
export function gsiEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
