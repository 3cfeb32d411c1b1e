/**
 * Every error the daemon answers has one shape, `{statusCode, code, error, message, next}`,
 * with `code` from shared/errors.ts. Schema validation failures and fastify's own request errors
 * (bad JSON, wrong content type) become BTFD_ERR_REQUEST_INVALID, a body, URL or header block over
 * the limits BTFD_ERR_REQUEST_TOO_LARGE (also when node's parser refuses it before fastify sees a
 * request), a file system errno its own code (ENOSPC, EACCES, EROFS), unknown routes
 * BTFD_ERR_NOT_FOUND, anything unexpected BTFD_ERR_INTERNAL (logged with its stack). A handler
 * that throws answers one request; it never takes the daemon down.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { BtfdError, ERROR_CATALOG, fsErrorCode, isErrorCode, type ErrorCode } from '../../shared/errors.js';
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
  const fsCode = fsErrorCode(err);
  if (fsCode !== null) return errorBodyFor(fsCode, message);
  if (candidate?.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || candidate?.statusCode === 413) return errorBodyFor('BTFD_ERR_REQUEST_TOO_LARGE', message);
  // Schema validation, and fastify's request errors (FST_ERR_CTP_*: JSON, content type, size).
  const status = candidate?.statusCode;
  if (candidate?.validation !== undefined || (typeof status === 'number' && status >= 400 && status < 500)) {
    return errorBodyFor('BTFD_ERR_REQUEST_INVALID', message);
  }
  return errorBodyFor('BTFD_ERR_INTERNAL', message);
}

/**
 * Answer a request node's HTTP parser refused before fastify saw it (fastify's
 * `clientErrorHandler`): a header block or URL over the parser's limit, or bytes that are not
 * HTTP. Fastify's default answers without a catalog code.
 */
export function handleClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const body = err.code === 'HPE_HEADER_OVERFLOW'
    ? errorBodyFor('BTFD_ERR_REQUEST_TOO_LARGE', 'the request line and headers exceed the daemon\'s limit (16 KiB)')
    : errorBodyFor('BTFD_ERR_REQUEST_INVALID', `not a valid HTTP request: ${err.code ?? err.message}`);
  const text = JSON.stringify(body);
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${body.statusCode} ${body.error}\r\nContent-Length: ${Buffer.byteLength(text)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${text}`);
  }
  socket.destroy();
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
