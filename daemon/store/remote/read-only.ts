/**
 * Read-only as a wrapper (sccache's readonly.rs), not an `if` in every backend: reads go through,
 * every write is refused with BTFD_ERR_REMOTE_READ_ONLY without contacting the server, and
 * `writable` is false so that callers do not even queue uploads.
 */
import { remoteFailure, type RemoteBackend } from './remote-backend.js';

export function readOnlyBackend(backend: RemoteBackend): RemoteBackend {
  return {
    kind: backend.kind,
    location: backend.location,
    writable: false,
    get: (namespace, hash) => backend.get(namespace, hash),
    put: async (namespace, hash) => remoteFailure('BTFD_ERR_REMOTE_READ_ONLY', `${backend.location}: ${namespace}/${hash.slice(0, 12)}… not written: the remote is read-only`),
    has: (namespace, hash) => backend.has(namespace, hash),
    close: () => backend.close(),
  };
}
