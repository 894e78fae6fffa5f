import type { Supervisor, SupervisorEvents } from "../../../src/supervisor/index.js";

/** `p`, or a clear failure if it takes more than `ms`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The next `event` whose payload matches `pred`, within `ms`. Subscribe before causing it. */
export function nextEvent<K extends keyof SupervisorEvents>(
  sup: Supervisor,
  event: K,
  pred: (payload: SupervisorEvents[K]) => boolean = () => true,
  ms = 2000,
): Promise<SupervisorEvents[K]> {
  let off = () => {};
  const seen = new Promise<SupervisorEvents[K]>((resolve) => {
    off = sup.on(event, (payload) => {
      if (pred(payload)) resolve(payload);
    });
  });
  return within(seen, ms, `supervisor event "${String(event)}"`).finally(() => off());
}

/** The `n`-th occurrence (1-based) of `event` matching `pred`, within `ms`. */
export function nthEvent<K extends keyof SupervisorEvents>(
  sup: Supervisor,
  event: K,
  n: number,
  pred: (payload: SupervisorEvents[K]) => boolean = () => true,
  ms = 2000,
): Promise<SupervisorEvents[K]> {
  let count = 0;
  return nextEvent(sup, event, (p) => pred(p) && ++count === n, ms);
}

/** Every event of the supervisor, in order, as short strings ("started:a", "exited:b:supervisor", ...). */
export function recordEvents(sup: Supervisor): string[] {
  const log: string[] = [];
  sup.on("child-started", ({ id }) => log.push(`started:${id}`));
  sup.on("child-restarted", ({ id }) => log.push(`restarted:${id}`));
  sup.on("child-exited", ({ id, initiatedBy, killed }) => log.push(`exited:${id}:${initiatedBy}${killed ? ":killed" : ""}`));
  sup.on("child-start-failed", ({ id }) => log.push(`start-failed:${id}`));
  sup.on("intensity-exceeded", ({ id }) => log.push(`intensity-exceeded:${id}`));
  sup.on("stopped", ({ reason }) => log.push(`stopped:${reason}`));
  return log;
}
