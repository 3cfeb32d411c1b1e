/**
 * Single-flight: concurrent callers asking for the same key share one running promise, so one
 * module file is never written by two jobs and one key never runs pahole twice at once.
 */
export interface SingleFlight<T> {
  run(key: string, work: () => Promise<T>): Promise<T>;
  readonly size: number;
}

export function createSingleFlight<T>(): SingleFlight<T> {
  const running = new Map<string, Promise<T>>();
  return {
    run(key, work) {
      const existing = running.get(key);
      if (existing) return existing;
      const promise = work().finally(() => running.delete(key));
      running.set(key, promise);
      return promise;
    },
    get size() {
      return running.size;
    },
  };
}
