/**
 * Every route's method and path, with no schema library behind them: the CLI imports these (and
 * only types from the route files), so a command such as `btfd status --json` starts without
 * loading TypeBox. Each route file in this directory re-exports its own constant from here.
 */

export const HELLO_ROUTE = { method: 'GET', url: '/v1/hello' } as const;
export const STATUS_ROUTE = { method: 'GET', url: '/v1/status' } as const;
export const STOP_ROUTE = { method: 'POST', url: '/v1/stop' } as const;
export const BUILD_ROUTE = { method: 'POST', url: '/v1/build' } as const;
export const EXPLAIN_ROUTE = { method: 'POST', url: '/v1/explain' } as const;
export const MODULES_ROUTE = { method: 'GET', url: '/v1/modules' } as const;
export const CACHE_STATS_ROUTE = { method: 'GET', url: '/v1/cache/stats' } as const;
export const CACHE_ZERO_ROUTE = { method: 'POST', url: '/v1/cache/stats/zero' } as const;
export const CACHE_GC_ROUTE = { method: 'POST', url: '/v1/cache/gc' } as const;
export const CACHE_VERIFY_ROUTE = { method: 'POST', url: '/v1/cache/verify' } as const;
export const CACHE_CLEAR_ROUTE = { method: 'POST', url: '/v1/cache/clear' } as const;
export const WATCH_ROUTE = { method: 'POST', url: '/v1/watch' } as const;
export const UNWATCH_ROUTE = { method: 'POST', url: '/v1/unwatch' } as const;
export const TREES_ROUTE = { method: 'GET', url: '/v1/trees' } as const;
export const PAHOLE_ROUTE = { method: 'POST', url: '/v1/pahole' } as const;
export const KBUILD_CHECK_ROUTE = { method: 'POST', url: '/v1/kbuild/check' } as const;

/** The media type of a streamed build. */
export const NDJSON_CONTENT_TYPE = 'application/x-ndjson';
