/**
 * A fake Engine for route and lifecycle tests: built from the methods a test needs; any other
 * method throws when called, so the fake keeps compiling as the Engine interface grows.
 */
import type { Engine } from '../../daemon/engine/engine.js';

export function asEngine(methods: Partial<Engine>): Engine {
  return new Proxy(methods, {
    get(target, prop) {
      const value = (target as Record<string | symbol, unknown>)[prop];
      if (value !== undefined || typeof prop === 'symbol' || prop === 'then') return value;
      // Every server close interrupts the engine: a no-op unless a test fakes it.
      if (prop === 'interrupt') return () => undefined;
      return () => {
        throw new Error(`fake engine: ${prop} is not faked`);
      };
    },
  }) as Engine;
}
