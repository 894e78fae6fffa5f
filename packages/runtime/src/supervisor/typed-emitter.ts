/**
 * A minimal typed event emitter. A listener that throws is reported as a
 * process warning and does not stop the other listeners or the emitter:
 * listeners run inside the supervisor's restart logic, which must not be
 * interrupted by an observer's bug.
 */
export class TypedEmitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<(payload: never) => void>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, fn: (payload: Events[K]) => void): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    // Wrap so the same function added twice is two listeners, each removable once.
    const entry = (payload: never) => fn(payload);
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.#listeners.get(event);
    if (set === undefined) return;
    for (const fn of [...set]) {
      try {
        (fn as (p: Events[K]) => void)(payload);
      } catch (err) {
        const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
        process.emitWarning(`a "${String(event)}" listener threw`, { code: "VTX_LISTENER_ERROR", detail });
      }
    }
  }
}
