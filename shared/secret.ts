/**
 * A credential (a password, a token, a URL carrying one) that must never reach a log, a status
 * answer or an error message: serialised or inspected it reads `[redacted]`, and only `reveal()`
 * gives the value, at the one place that sends it (an Authorization header, Redis AUTH, the
 * environment of a spawned daemon).
 */
import { inspect } from 'node:util';

const REDACTED = '[redacted]';

export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The value itself: pass it only to what sends it. */
  reveal(): string {
    return this.#value;
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
