/**
 * One error family for all of vtx. Every error has a stable string `code`;
 * tests and callers match on the code, never on the message.
 *
 * Errors cross thread boundaries (postMessage, mailboxes) as plain
 * `{code, message}` data, because class identity does not survive structured
 * clone; {@link toWireError} and {@link fromWireError} convert.
 */
export class VtxError extends Error {
  readonly code: string;
  /** Extra machine-readable detail (byte offset, decoder state, peer, ...). */
  readonly detail: Readonly<Record<string, unknown>> | undefined;

  constructor(code: string, message: string, options?: { cause?: unknown; detail?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "VtxError";
    this.code = code;
    this.detail = options?.detail;
  }
}

/** A decoder error: carries the byte offset and the decoder state. */
export class DecodeError extends VtxError {
  constructor(code: string, message: string, readonly offset: number, readonly state: string) {
    super(code, `${message} (at byte ${offset}, state ${state})`, { detail: { offset, state } });
    this.name = "DecodeError";
  }
}

export interface WireError {
  code: string;
  message: string;
}

export function toWireError(err: unknown): WireError {
  if (err instanceof VtxError) return { code: err.code, message: err.message };
  if (typeof err === "object" && err !== null && !(err instanceof Error)) {
    // Already wire-shaped (e.g. a rejection that crossed a thread as data).
    const w = err as { code?: unknown; message?: unknown };
    if (typeof w.code === "string") return { code: w.code, message: typeof w.message === "string" ? w.message : w.code };
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { code: typeof code === "string" ? code : "VTX_INTERNAL", message: err.message };
  }
  return { code: "VTX_INTERNAL", message: String(err) };
}

export function fromWireError(w: WireError): VtxError {
  return new VtxError(w.code, w.message);
}

export function isVtxError(err: unknown, code?: string): err is VtxError {
  return err instanceof VtxError && (code === undefined || err.code === code);
}
