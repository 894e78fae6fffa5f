import { createActor, enqueueActions, setup, type ActorRefFrom } from "xstate";

/**
 * What the machine asks its session to do. The session owns the I/O and the
 * pipe; the machine decides which command is valid in which state.
 */
export interface ClientHooks {
  /** Try to attach as the reader of `pipename`; replies INPUT_OK / INPUT_FAILED. */
  openReader(pipename: string): boolean;
  /** Try to attach as the writer of `pipename`; replies OUTPUT_OK / OUTPUT_FAILED. */
  openWriter(pipename: string): boolean;
  read(size: number, timeout: number): void;
  write(chunk: Buffer, timeout: number): void;
  /** Fail any pending call, leave the pipe, reply CLOSE_OK. */
  close(): void;
  pong(): void;
  /** Reply INVALID (the command is not valid in this state). */
  invalid(command: string): void;
  /** Expired: leave the pipe silently (no reply). */
  expire(): void;
  /** Broker shutting down: answer pending calls with *_FAILED, leave the pipe. */
  shutdown(): void;
}

/** Client commands as machine events, one per ZPIPES command (seed 002). */
export type ClientEvent =
  | { type: "INPUT"; pipename: string }
  | { type: "OUTPUT"; pipename: string }
  | { type: "READ"; size: number; timeout: number }
  | { type: "WRITE"; chunk: Buffer; timeout: number }
  | { type: "CLOSE" }
  | { type: "PING" }
  /** A decodable message that is not a client command (a reply sent to the broker). */
  | { type: "OTHER"; name: string }
  | { type: "EXPIRE" }
  | { type: "SHUTDOWN" }
  /** Raised internally once the pipe end is attached. */
  | { type: "READER_OPENED" }
  | { type: "WRITER_OPENED" };

/**
 * One client's ZPIPES conversation (seed 002 ABNF):
 *
 *   reader = input-command *( read-command | ping-command ) close-command
 *   writer = output-command *write-command close-command
 *
 * with PING accepted in every state (the ABNF's `ping-command`), CLOSE
 * returning to `idle` (a client may open another pipe on the same
 * connection, as the original allows), and every other command answered
 * with INVALID without changing state. Expiry and shutdown end it.
 *
 * READ in `reading` and WRITE in `writing` are self-transitions; the broker
 * runs them through a direct call when the machine is known to be in that
 * state (the hot path), which is exactly what the transition would do.
 */
export const clientMachine = setup({
  types: {
    context: {} as { hooks: ClientHooks },
    input: {} as { hooks: ClientHooks },
    events: {} as ClientEvent,
  },
  actions: {
    pong: ({ context }) => context.hooks.pong(),
    invalid: ({ context, event }) => context.hooks.invalid(event.type === "OTHER" ? event.name : event.type),
    expire: ({ context }) => context.hooks.expire(),
    shutdown: ({ context }) => context.hooks.shutdown(),
    close: ({ context }) => context.hooks.close(),
  },
}).createMachine({
  id: "zpipes-client",
  context: ({ input }) => ({ hooks: input.hooks }),
  initial: "idle",
  on: {
    PING: { actions: "pong" },
    EXPIRE: { target: ".done", actions: "expire" },
    SHUTDOWN: { target: ".done", actions: "shutdown" },
    "*": { actions: "invalid" },
  },
  states: {
    idle: {
      on: {
        INPUT: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            if (context.hooks.openReader(event.pipename)) enqueue.raise({ type: "READER_OPENED" });
          }),
        },
        OUTPUT: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            if (context.hooks.openWriter(event.pipename)) enqueue.raise({ type: "WRITER_OPENED" });
          }),
        },
        READER_OPENED: "reading",
        WRITER_OPENED: "writing",
      },
    },
    reading: {
      on: {
        READ: { actions: ({ context, event }) => context.hooks.read(event.size, event.timeout) },
        CLOSE: { target: "idle", actions: "close" },
      },
    },
    writing: {
      on: {
        WRITE: { actions: ({ context, event }) => context.hooks.write(event.chunk, event.timeout) },
        CLOSE: { target: "idle", actions: "close" },
      },
    },
    done: { type: "final" },
  },
});

export type ClientState = "idle" | "reading" | "writing" | "done";
export type ClientActor = ActorRefFrom<typeof clientMachine>;

export function createClientActor(hooks: ClientHooks): ClientActor {
  return createActor(clientMachine, { input: { hooks } });
}
