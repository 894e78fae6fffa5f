/**
 * zeromq.js without a ZMQ_EVENTS query per message.
 *
 * With a timeout of -1 (the default), every zeromq.js `send()` and
 * `receive()` first asks libzmq for ZMQ_EVENTS, and libzmq answers that by
 * polling its command pipe: a poll() and a getpid() system call per message,
 * per direction, on top of the message itself. With a timeout of 0,
 * zeromq.js tries the operation at once and fails with EAGAIN when it
 * cannot proceed. These helpers use that fast path and fall back to a
 * blocking call only when needed:
 *
 * - {@link readBursts}: block for the first message of a burst, then drain
 *   what is already queued with 0-timeout receives until EAGAIN (an Error
 *   made without a stack trace). A drain that finds nothing is tried less
 *   and less often, so request/reply traffic does not pay for it.
 * - sends: the bridge keeps its socket at `sendTimeout = 0` and retries a
 *   send that meets a full pipe (EAGAIN) as a blocking one (bridge.ts).
 *
 * Measured: ztcp PUSH→PULL 64 B went from 235K to 306–321K msg/s with it
 * (native tcp ~400K), udp from 171K to 290K. On the zpipes broker (64 KiB
 * messages, short bursts) it is neutral for speed; the broker uses it to
 * learn when it has caught up with its input (`caughtUp`), for client expiry.
 */

/** The part of a zeromq.js socket {@link readBursts} uses. */
export interface BurstSocket {
  receive(): Promise<Buffer[]>;
  receiveTimeout: number;
  readonly closed: boolean;
}

export interface BurstHandler {
  /** One message; return a promise to make the reader wait for it. */
  message(frames: Buffer[]): Promise<void> | undefined;
  /** Nothing more is queued right now (end of a burst). */
  idle(): void;
  /** True once the reader should stop. */
  stopped(): boolean;
  /**
   * Called when a drain found the queue empty (EAGAIN): every message that
   * had arrived so far has been handled, and the reader is about to block
   * for the next. With this callback set, a drain follows every message
   * (no skipping), so the caller always learns when it has caught up.
   */
  caughtUp?(): void;
  /**
   * Called right before the reader blocks for the first message of a burst
   * (its next call is `message`, or nothing if it stops).
   */
  blocked?(): void;
  /**
   * How long one blocking receive waits (ms; -1, the default: forever).
   * With a bound the reader wakes up that often when idle and blocks
   * again. The bound also recovers a wake-up lost to someone else's
   * ZMQ_EVENTS query: libzmq's file descriptor is edge-triggered, so a
   * `readable` check made while a receive is pending can consume the
   * signal the receive waits for (zeromq.js re-checks after its own sends
   * and receives, not after that getter); when the wait times out,
   * zeromq.js tries the receive once more before failing with EAGAIN.
   */
  blockMs?: number;
}

/** Messages read in one burst before yielding to the event loop (I/O and timers must not starve). */
export const BURST = 256;
/** Most messages let through without a drain attempt after drains kept finding nothing. */
const MAX_SKIP = 64;

export function isEagain(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "EAGAIN";
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Reads `socket` until it closes or `handler.stopped()`; rejects with the
 * socket's error when it closes (callers treat that as the end).
 */
export async function readBursts(socket: BurstSocket, handler: BurstHandler): Promise<void> {
  let skip = 0;
  let skipping = 0;
  const blockMs = handler.blockMs ?? -1;
  socket.receiveTimeout = blockMs;
  for (;;) {
    let frames: Buffer[];
    handler.blocked?.();
    if (blockMs < 0) frames = await socket.receive();
    else {
      try {
        frames = await receiveQuietly(socket);
      } catch (err) {
        if (isEagain(err) && !handler.stopped()) continue;
        throw err;
      }
    }
    const first = handler.message(frames);
    if (first !== undefined) await first;
    if (handler.stopped()) return;
    if (skipping > 0) {
      skipping--;
      handler.idle();
      continue;
    }
    const n = await drain(socket, handler, blockMs);
    if (handler.stopped()) return;
    handler.idle();
    if (n < BURST && handler.caughtUp) {
      handler.caughtUp();
      continue;
    }
    if (n === 0) skip = skipping = Math.min(MAX_SKIP, skip * 2 + 1);
    else skip = 0;
    if (n === BURST) await yieldToEventLoop();
  }
}

/** `socket.receive()`, its EAGAIN made without a stack trace (they are expected, and frequent). */
function receiveQuietly(socket: BurstSocket): Promise<Buffer[]> {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return socket.receive();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Forwards up to BURST messages already queued; returns how many. */
async function drain(socket: BurstSocket, handler: BurstHandler, blockMs: number): Promise<number> {
  let n = 0;
  socket.receiveTimeout = 0;
  try {
    for (; n < BURST && !handler.stopped(); n++) {
      const next = receiveQuietly(socket);
      let frames: Buffer[];
      try {
        frames = await next;
      } catch (err) {
        if (isEagain(err)) break;
        throw err;
      }
      const wait = handler.message(frames);
      if (wait !== undefined) await wait;
    }
  } finally {
    if (!socket.closed) socket.receiveTimeout = blockMs;
  }
  return n;
}
