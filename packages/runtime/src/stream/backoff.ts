/**
 * Reconnect delay: exponential from `initial` to `max`, with ±25 % jitter so
 * that many clients cut off together do not all come back at once.
 */
export function backoffDelay(attempt: number, initial: number, max: number, random: () => number = Math.random): number {
  const base = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  const jittered = base * (0.75 + random() * 0.5);
  return Math.max(1, Math.round(Math.min(jittered, max * 1.25)));
}
