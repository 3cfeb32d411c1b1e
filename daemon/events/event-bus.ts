/**
 * The daemon's event bus: watch and build events fan out to `/v1/events` subscribers. A slow or
 * broken subscriber never blocks a publisher: delivery is synchronous and listener errors are
 * dropped (the SSE route writes to its socket and lets Node buffer).
 */
export interface EventBus<E> {
  publish(event: E): void;
  /** Listen until the returned function is called. */
  subscribe(listener: (event: E) => void): () => void;
  readonly subscribers: number;
  /** Call `listener` when the bus closes (the daemon is stopping); returns an unregister function. */
  onClose(listener: () => void): () => void;
  /** Close: every onClose listener runs once (SSE streams end so the server can close). */
  close(): void;
}

export function createEventBus<E>(): EventBus<E> {
  const listeners = new Set<(event: E) => void>();
  const closeListeners = new Set<() => void>();
  return {
    publish(event) {
      for (const listener of listeners) {
        try {
          listener(event);
        } catch {
          // A subscriber's failure is its own; the others still hear the event.
        }
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get subscribers() {
      return listeners.size;
    },
    onClose(listener) {
      closeListeners.add(listener);
      return () => closeListeners.delete(listener);
    },
    close() {
      listeners.clear();
      for (const listener of [...closeListeners]) listener();
      closeListeners.clear();
    },
  };
}
