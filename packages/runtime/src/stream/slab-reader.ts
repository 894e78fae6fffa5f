import * as net from "node:net";

/** Where slabs come from when not allocated fresh: a {@link SlabPool} (./slab-pool.js). */
export interface SlabSource {
  /** A slab to read into (its whole length is used). */
  take(): Buffer;
  /** Reading moved on to another slab; `slab` gets no more bytes. */
  retire(slab: Buffer): void;
}

/**
 * Reads a plain TCP socket straight into large slabs instead of node's
 * default fresh 64 KiB buffer per read.
 *
 * Why: every buffer a worker allocates counts as V8 external memory, and
 * each 64 MB of it costs a full mark-compact of the worker's heap. With
 * node's default reads a 64 KiB ZMTP frame never fits in one read, so it
 * cost a 64 KiB read buffer plus a 64 KiB copy. Reading into consecutive
 * tails of one slab keeps a frame that spans two reads contiguous in
 * memory, so the frame decoder hands it out as a view (see
 * FrameDecoder's contiguous spans): one allocation per slab, no copy.
 *
 * A frame that the end of a slab cuts in two would have been copied whole
 * into a fresh buffer; with `carry` (the engine's carryPartialFrame) what
 * had arrived of it moves to the start of the next slab instead, and the
 * frame stays one view.
 *
 * How: node's `onread` option (a `buffer()` generator called after every
 * read) is public for sockets we create, but `net.Server` gives accepted
 * sockets no such option. So this sets the same three per-socket fields
 * `onread` sets, found by their symbol descriptions, and hands the handle
 * the buffer. TLS sockets work the same way (node's TLSWrap copies each
 * decrypted record into the buffer it is given). When anything is not as
 * expected (another node, a socket that already has a user buffer) it
 * returns false and the caller keeps using 'data' events; the test suite
 * checks that the fast path is active on the node it runs on, for TCP and
 * TLS, accepted and dialed.
 *
 * Memory: a frame handed out as a view keeps its whole slab alive as long
 * as the application holds it, so only frames of at least
 * {@link VIEW_MIN_BYTES} are views (the decoder copies smaller ones): a
 * message the application keeps pins at most 8 times its size. (node's
 * default reads pinned a 64 KiB buffer for any frame over 128 bytes.)
 * 256 KiB slabs with 32 KiB views measured the same 64 KiB throughput as
 * 1 MiB slabs with 16 KiB views, and 512 KiB with 64 KiB.
 */
export const SLAB_BYTES = 256 * 1024;
/** A read is never offered less than this much room (node's default read size). */
const MIN_READ = 64 * 1024;

/** Frames smaller than this are copied out of a slab rather than kept as views of it. */
export const VIEW_MIN_BYTES = 32 * 1024;

interface SocketInternals {
  _handle?: { useUserBuffer?: (buf: Uint8Array) => void; reading?: boolean } | null;
}

function findSymbol(obj: object, description: string): symbol | undefined {
  return Object.getOwnPropertySymbols(obj).find((s) => s.description === description);
}

/**
 * Switches `socket` to slab reads: `onChunk(chunk)` gets each read (a view
 * of the current slab; consecutive chunks are adjacent in memory until a
 * new slab starts) and returns false to stop reading (`socket.resume()`
 * restarts it). Returns false when the socket does not support it.
 *
 * With `source`, slabs come from `source.take()` and each is handed back to
 * `source.retire()` once reading has moved on to the next one (after
 * `carry`), so a pool can use it again when nothing else refers to it.
 */
export function readIntoSlabs(
  socket: net.Socket,
  onChunk: (chunk: Buffer) => boolean,
  slabBytes = SLAB_BYTES,
  carry?: (slab: Buffer) => number,
  source?: SlabSource,
): boolean {
  if (!(socket instanceof net.Socket)) return false;
  const s = socket as unknown as Record<symbol, unknown> & SocketInternals;
  const handle = s._handle;
  const kBuffer = findSymbol(socket, "kBuffer");
  const kBufferCb = findSymbol(socket, "kBufferCb");
  const kBufferGen = findSymbol(socket, "kBufferGen");
  if (!handle || typeof handle.useUserBuffer !== "function" || !kBuffer || !kBufferCb || !kBufferGen) return false;
  if (s[kBuffer] !== null && s[kBuffer] !== undefined) return false; // already has a user buffer

  // node's TLSWrap fills the buffer it is given from a 16 KiB record at a
  // time and goes on into the next buffer when one is full, so a TLS slab
  // is used to its last byte; a TCP read is given at least MIN_READ.
  const minRead = (socket as net.Socket & { encrypted?: boolean }).encrypted === true ? 1 : MIN_READ;
  const fresh = (): Buffer => (source === undefined ? Buffer.allocUnsafeSlow(slabBytes) : source.take());
  let slab = fresh();
  let used = 0;
  const next = (): Buffer => {
    if (slab.length - used < minRead) {
      const old = slab;
      slab = fresh();
      // A frame cut by the end of the old slab moves to the start of the new one.
      used = carry === undefined ? 0 : carry(slab);
      source?.retire(old);
    }
    return slab.subarray(used);
  };
  const first = next();
  s[kBufferGen] = next;
  s[kBufferCb] = (nread: number, buf: Buffer): boolean => {
    // `buf` is the tail of `slab` handed out by next(); node calls next()
    // again right after this returns.
    used += nread;
    return onChunk(buf.subarray(0, nread));
  };
  s[kBuffer] = first;
  handle.useUserBuffer(first);
  return true;
}
