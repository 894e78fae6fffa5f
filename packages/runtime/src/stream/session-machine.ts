import { assign, fromPromise, setup } from "xstate";
import type { VtxError } from "../errors.js";
import { backoffDelay } from "./backoff.js";

/**
 * The life of one connect-side session, as an XState machine:
 *
 *   connecting ──dialed──► handshaking ──READY──► ready
 *       ▲   │ dial failed       │ LINK_CLOSED/timeout   │ LINK_CLOSED
 *       │   ▼                   ▼                        ▼
 *       └── backoff ◄──────────────────────────────────────┘
 *   STOP from anywhere ──► stopped (final)
 *
 * The backoff delay doubles from `reconnectInterval` up to
 * `reconnectIntervalMax` with jitter, and resets once a handshake succeeds.
 * The machine owns no bytes: it drives a {@link SessionPort} (dial, open a
 * link on the dialed stream, close it) and hears back about the link.
 */
export interface SessionPort {
  dial(signal: AbortSignal): Promise<void>;
  /** Stops the current link, if any. */
  dropLink(): void;
  reconnectInterval: number;
  reconnectIntervalMax: number;
  onState?(state: string, error?: VtxError): void;
}

export type SessionEvent =
  | { type: "LINK_READY" }
  | { type: "LINK_CLOSED"; error?: VtxError | undefined }
  | { type: "STOP" };

export const sessionMachine = setup({
  types: {
    context: {} as { port: SessionPort; attempt: number; lastError: VtxError | undefined },
    input: {} as { port: SessionPort },
    events: {} as SessionEvent,
  },
  actors: {
    dial: fromPromise<void, { port: SessionPort }>(({ input, signal }) => input.port.dial(signal)),
  },
  delays: {
    backoff: ({ context }) =>
      backoffDelay(context.attempt, context.port.reconnectInterval, context.port.reconnectIntervalMax),
  },
  actions: {
    dropLink: ({ context }) => context.port.dropLink(),
  },
}).createMachine({
  id: "zmtp-session",
  context: ({ input }) => ({ port: input.port, attempt: 0, lastError: undefined }),
  initial: "connecting",
  on: { STOP: ".stopped" },
  states: {
    connecting: {
      entry: ({ context }) => context.port.onState?.("connecting"),
      invoke: {
        src: "dial",
        input: ({ context }) => ({ port: context.port }),
        onDone: "handshaking",
        onError: {
          target: "backoff",
          actions: assign({ lastError: ({ event }) => event.error as VtxError }),
        },
      },
    },
    handshaking: {
      on: {
        LINK_READY: { target: "ready", actions: assign({ attempt: 0 }) },
        LINK_CLOSED: { target: "backoff", actions: assign({ lastError: ({ event }) => event.error }) },
      },
    },
    ready: {
      entry: ({ context }) => context.port.onState?.("ready"),
      on: {
        LINK_CLOSED: { target: "backoff", actions: assign({ lastError: ({ event }) => event.error }) },
      },
    },
    backoff: {
      entry: [
        "dropLink",
        ({ context }) => context.port.onState?.("backoff", context.lastError),
      ],
      exit: assign({ attempt: ({ context }) => context.attempt + 1 }),
      after: { backoff: "connecting" },
    },
    stopped: {
      type: "final",
      entry: "dropLink",
    },
  },
});
