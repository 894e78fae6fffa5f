/**
 * Collects unhandled rejections and uncaught exceptions for the duration of
 * a test. Vitest also reports them, but per run; this lets a test assert
 * that its own scenario produced none.
 */
export function watchUnhandled(): { readonly seen: unknown[]; dispose(): void } {
  const seen: unknown[] = [];
  const onRejection = (reason: unknown) => seen.push(reason);
  const onException = (err: unknown) => seen.push(err);
  process.on("unhandledRejection", onRejection);
  process.on("uncaughtException", onException);
  return {
    seen,
    dispose() {
      process.off("unhandledRejection", onRejection);
      process.off("uncaughtException", onException);
    },
  };
}

/** Lets pending macrotasks run, so an unhandled rejection would have been reported by now. */
export function afterPendingTasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
