/**
 * Every error the daemon answers has one shape, `{statusCode, code, error, message, next}`,
 * with `code` from shared/errors.ts. Schema validation failures and fastify's own request errors
 * (bad JSON, wrong content type, body too large) become BTFD_ERR_REQUEST_INVALID, unknown routes
 * BTFD_ERR_NOT_FOUND, anything unexpected BTFD_ERR_INTERNAL (logged with its stack). A handler
 * that throws answers one request; it never takes the daemon down.
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { BtfdError, ERROR_CATALOG, isErrorCode, type ErrorCode } from '../../shared/errors.js';
import type { ErrorBody } from '../../shared/protocol/error.js';

/** The error shape for `code` with `message`. */
export function errorBodyFor(code: ErrorCode, message: string): ErrorBody {
  const statusCode = ERROR_CATALOG[code].status;
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message, next: ERROR_CATALOG[code].next };
}

/** Map any thrown value to the wire error shape. */
export function toErrorBody(err: unknown): ErrorBody {
  if (err instanceof BtfdError) return errorBodyFor(err.code, err.message);
  const candidate = err as Partial<FastifyError> | null;
  const message = candidate?.message ?? String(err);
  if (isErrorCode(candidate?.code)) return errorBodyFor(candidate.code, message);
  // Schema validation, and fastify's request errors (FST_ERR_CTP_*: JSON, content type, size).
  const status = candidate?.statusCode;
  if (candidate?.validation !== undefined || (typeof status === 'number' && status >= 400 && status < 500)) {
    return errorBodyFor('BTFD_ERR_REQUEST_INVALID', message);
  }
  return errorBodyFor('BTFD_ERR_INTERNAL', message);
}

/** Install the error and not-found handlers on `app`. */
export function installErrorHandlers(app: FastifyInstance, logger: Logger): void {
  app.setErrorHandler((err, request, reply) => {
    const body = toErrorBody(err);
    if (body.code === 'BTFD_ERR_INTERNAL') {
      logger.error({ err, method: request.method, url: request.url }, 'request failed unexpectedly');
    } else {
      logger.debug({ code: body.code, detail: body.message, method: request.method, url: request.url }, 'request failed');
    }
    void reply.status(body.statusCode).type('application/json').send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const body = errorBodyFor('BTFD_ERR_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`);
    void reply.status(body.statusCode).type('application/json').send(body);
  });
}
