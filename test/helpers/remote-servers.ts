/**
 * Real cache servers for the remote-tier tests, each started on a free 127.0.0.1 port in the
 * test's temp dir and stopped in `t.after`: Debian's nginx with WebDAV PUT (the bazel-remote HTTP
 * layout as nginx serves it: files under its root), optionally with TLS (a self-signed certificate
 * made with openssl) and Basic auth; and Debian's redis-server, optionally with a password.
 *
 * A server can be paused (SIGSTOP: it accepts connections and never answers, a hung server),
 * resumed and killed, and its stored values read and tampered with, as a test needs.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { redisKeyPrefix } from '../../daemon/store/remote/redis-backend.js';
import { tempDir } from './engine-harness.js';

/** How long a server may take to accept connections. */
const START_TIMEOUT_MS = 10_000;
const POLL_MS = 25;

export type RemoteKind = 'http' | 'redis';
export type Namespace = 'ac' | 'cas';

export interface RemoteServer {
  readonly kind: RemoteKind;
  /** The BTFD_REMOTE_CACHE value (credentials included when the server has them). */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Hashes stored in a namespace (under `salt` for Redis). */
  list(namespace: Namespace, salt?: string): Promise<string[]>;
  read(namespace: Namespace, hash: string, salt?: string): Promise<Buffer | null>;
  /** Overwrite a stored value behind btfd's back. */
  write(namespace: Namespace, hash: string, data: Buffer, salt?: string): Promise<void>;
  /** Write requests the server has served so far (nginx: PUTs in its access log; Redis: SETs). */
  writes(): Promise<number>;
  /** SIGSTOP / SIGCONT: a server that accepts connections and answers nothing. */
  pause(): void;
  resume(): void;
  /** SIGKILL, and wait for the process to be gone. */
  kill(): Promise<void>;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A port nothing listens on right now (the server is started on it next; startServer retries a lost race). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Start `command` for a free port; wait until it accepts connections. Retries a port lost to a race. */
async function startProcess(t: TestContext, spawnOn: (port: number) => ChildProcess, logFile: string): Promise<{ child: ChildProcess; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawnOn(port);
    let exited = false;
    child.once('exit', () => { exited = true; });
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!exited && Date.now() < deadline && !(await accepts(port))) await sleep(POLL_MS);
    if (!exited && (await accepts(port))) {
      t.after(async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGCONT');
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
      });
      return { child, port };
    }
    child.kill('SIGKILL');
    const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-2000) : '';
    if (attempt >= 3) throw new Error(`${child.spawnfile} did not start on 127.0.0.1:${port}: ${log}`);
  }
}

function signals(child: ChildProcess): Pick<RemoteServer, 'pause' | 'resume' | 'kill' | 'pid'> {
  return {
    pid: child.pid!,
    pause: () => { child.kill('SIGSTOP'); },
    resume: () => { child.kill('SIGCONT'); },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await gone;
    },
  };
}

/** A self-signed certificate for 127.0.0.1 made with openssl: `dir/cert.pem` (returned) and `dir/key.pem`. */
function selfSignedCertificate(dir: string): string {
  const certificate = path.join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', certificate,
  ], { stdio: 'ignore' });
  return certificate;
}

export interface NginxOptions {
  /** Serve https with a self-signed certificate for 127.0.0.1 (its path: `certificate`). */
  readonly tls?: boolean;
  /** Require Basic auth with this user and password. */
  readonly basicAuth?: { readonly user: string; readonly password: string };
  /** The URL path prefix the cache lives under, e.g. `/btfd`. */
  readonly prefix?: string;
}

export interface NginxServer extends RemoteServer {
  /** The self-signed certificate (PEM), for NODE_EXTRA_CA_CERTS; null without TLS. */
  readonly certificate: string | null;
  /** The WebDAV root: what nginx stores. */
  readonly root: string;
}

/** nginx from Debian, WebDAV PUT on, one process in the foreground (no master, no user switch). */
export async function startNginx(t: TestContext, options: NginxOptions = {}): Promise<NginxServer> {
  const dir = tempDir(t, 'btfd-nginx-');
  const root = path.join(dir, 'data');
  const prefix = options.prefix ?? '';
  fs.mkdirSync(path.join(root, prefix), { recursive: true });
  fs.mkdirSync(path.join(dir, 'tmp'));
  const certificate = options.tls === true ? selfSignedCertificate(dir) : null;
  if (options.basicAuth) fs.writeFileSync(path.join(dir, 'htpasswd'), `${options.basicAuth.user}:{PLAIN}${options.basicAuth.password}\n`);
  const errorLog = path.join(dir, 'error.log');
  const accessLog = path.join(dir, 'access.log');
  const config = (port: number) => `
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${errorLog} warn;
events { worker_connections 256; }
http {
  access_log ${accessLog};
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  server {
    listen 127.0.0.1:${port}${certificate ? ' ssl' : ''};
    ${certificate ? `ssl_certificate ${certificate}; ssl_certificate_key ${path.join(dir, 'key.pem')};` : ''}
    root ${root};
    client_max_body_size 1g;
    location / {
      dav_methods PUT;
      create_full_put_path on;
      dav_access user:rw;
      ${options.basicAuth ? `auth_basic "btfd"; auth_basic_user_file ${dir}/htpasswd;` : ''}
    }
  }
}
`;
  const { child, port } = await startProcess(t, (p) => {
    fs.writeFileSync(path.join(dir, 'nginx.conf'), config(p));
    return spawn('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', errorLog], { stdio: 'ignore' });
  }, errorLog);
  const credentials = options.basicAuth ? `${encodeURIComponent(options.basicAuth.user)}:${encodeURIComponent(options.basicAuth.password)}@` : '';
  const fileOf = (namespace: Namespace, hash: string) => path.join(root, prefix, namespace, hash);
  return {
    kind: 'http',
    url: `${certificate ? 'https' : 'http'}://${credentials}127.0.0.1:${port}${prefix}`,
    port,
    certificate,
    root,
    ...signals(child),
    async list(namespace) {
      const nsDir = path.join(root, prefix, namespace);
      return fs.existsSync(nsDir) ? fs.readdirSync(nsDir).filter((name) => /^[0-9a-f]{64}$/.test(name)).sort() : [];
    },
    async read(namespace, hash) {
      const file = fileOf(namespace, hash);
      return fs.existsSync(file) ? fs.readFileSync(file) : null;
    },
    async write(namespace, hash, data) {
      fs.mkdirSync(path.dirname(fileOf(namespace, hash)), { recursive: true });
      fs.writeFileSync(fileOf(namespace, hash), data);
    },
    async writes() {
      const log = fs.existsSync(accessLog) ? fs.readFileSync(accessLog, 'utf8') : '';
      return log.split('\n').filter((line) => line.includes('"PUT ')).length;
    },
  };
}

export interface RedisOptions {
  /** requirepass. */
  readonly password?: string;
  /** Serve TLS only (rediss://) with a self-signed certificate for 127.0.0.1 (its path: `certificate`). */
  readonly tls?: boolean;
}

export interface RedisServer extends RemoteServer {
  /** A client of the test's own, connected as btfd is. */
  client(): Redis;
  /** The self-signed certificate (PEM), for NODE_EXTRA_CA_CERTS; null without TLS. */
  readonly certificate: string | null;
}

/** redis-server from Debian: no persistence, loopback only. */
export async function startRedis(t: TestContext, options: RedisOptions = {}): Promise<RedisServer> {
  const dir = tempDir(t, 'btfd-redis-');
  const logFile = path.join(dir, 'redis.log');
  const certificate = options.tls === true ? selfSignedCertificate(dir) : null;
  const listen = (p: number) => certificate === null
    ? ['--port', String(p)]
    : ['--port', '0', '--tls-port', String(p), '--tls-cert-file', certificate, '--tls-key-file', path.join(dir, 'key.pem'), '--tls-auth-clients', 'no'];
  const { child, port } = await startProcess(t, (p) => spawn('redis-server', [
    ...listen(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', logFile,
    ...(options.password === undefined ? [] : ['--requirepass', options.password]),
  ], { stdio: 'ignore' }), logFile);
  const client = new Redis({
    port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1,
    ...(options.password === undefined ? {} : { password: options.password }),
    ...(certificate === null ? {} : { tls: { ca: fs.readFileSync(certificate) } }),
  });
  client.on('error', () => undefined);
  t.after(() => client.disconnect());
  const keyOf = (namespace: Namespace, hash: string, salt = '') => `${redisKeyPrefix(salt)}${namespace}:${hash}`;
  const credentials = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
  return {
    kind: 'redis',
    url: `${certificate === null ? 'redis' : 'rediss'}://${credentials}127.0.0.1:${port}`,
    port,
    certificate,
    ...signals(child),
    client: () => client,
    async list(namespace, salt = '') {
      const prefix = `${redisKeyPrefix(salt)}${namespace}:`;
      return (await client.keys(`${prefix}*`)).map((key) => key.slice(prefix.length)).sort();
    },
    read: (namespace, hash, salt) => client.getBuffer(keyOf(namespace, hash, salt)),
    async write(namespace, hash, data, salt) {
      await client.set(keyOf(namespace, hash, salt), data);
    },
    async writes() {
      const stats = await client.info('commandstats');
      return Number(/cmdstat_set:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    },
  };
}

/** Start a server of `kind` with default options. */
export function startRemote(t: TestContext, kind: RemoteKind): Promise<RemoteServer> {
  return kind === 'http' ? startNginx(t, { prefix: '/btfd' }) : startRedis(t);
}
