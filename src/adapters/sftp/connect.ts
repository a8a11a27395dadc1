/**
 * Opens an authenticated SFTP session with the host key pinned. Errors name the endpoint and
 * what failed, never a password, passphrase or key.
 */
import { readFile } from 'node:fs/promises';
import { connect as connectTcp, type Socket } from 'node:net';
import type { Client, ConnectConfig, SFTPWrapper } from 'ssh2';
import type { SftpConfig } from '../../config/schema.js';
import { EodError } from '../../core/errors.js';
import { HostKeyCheck, loadHostKeyPins, preferredHostKeyAlgorithms } from './host-key.js';

export interface ConnectOptions {
  signal?: AbortSignal;
  /** Keepalive probe interval; a dead peer is given up after 3 unanswered probes. */
  keepaliveInterval?: number;
}

export interface SftpSession {
  client: Client;
  sftp: SFTPWrapper;
  /** Fingerprint of the (pinned) key the server presented. */
  hostKeySha256: string;
  /** `user@host:port`, for messages. */
  endpoint: string;
  /** The TCP connection under the SSH session (ours: see connectSftp), for write batching. */
  socket: Socket;
  /** Ends the connection; resolves once the socket is closed (or after a short grace). */
  end(): Promise<void>;
}

export function describeEndpoint(config: Pick<SftpConfig, 'host' | 'port' | 'username'>): string {
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return `${config.username}@${host}:${config.port}`;
}

/** Reads a secret file; a single trailing newline is an editor artefact, not part of it. */
async function readSecretFile(file: string, what: string, endpoint: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new EodError(
      'CONFIG_INVALID',
      `SFTP ${what} file ${file} for ${endpoint} cannot be read (${reason})`,
      {
        file,
      },
    );
  }
}

async function credentials(config: SftpConfig, endpoint: string): Promise<Partial<ConnectConfig>> {
  const auth: Partial<ConnectConfig> = {};
  if (config.privateKeyFile !== undefined) {
    try {
      auth.privateKey = await readFile(config.privateKeyFile);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason =
        { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'is a directory' }[code ?? ''] ??
        code ??
        'unreadable';
      throw new EodError(
        'CONFIG_INVALID',
        `SFTP private key file ${config.privateKeyFile} (sftp.privateKeyFile) for ${endpoint} cannot be read (${reason})`,
        { file: config.privateKeyFile },
      );
    }
    const passphrase =
      config.passphrase ??
      (config.passphraseFile === undefined
        ? undefined
        : await readSecretFile(config.passphraseFile, 'passphrase', endpoint));
    if (passphrase !== undefined) auth.passphrase = passphrase;
  }
  const password =
    config.password ??
    (config.passwordFile === undefined
      ? undefined
      : await readSecretFile(config.passwordFile, 'password', endpoint));
  if (password !== undefined) auth.password = password;
  return auth;
}

type Ssh2Error = Error & { level?: string; code?: string | number };

/** Turns an ssh2 connection error into one that says what to fix, with no secrets in it. */
function connectionError(
  error: Ssh2Error,
  config: SftpConfig,
  endpoint: string,
  hostCheck: HostKeyCheck,
): EodError {
  if (hostCheck.rejection !== undefined) return hostCheck.rejection;
  const facts = { host: config.host, port: config.port, username: config.username, level: error.level };
  const methods: string[] = [];
  if (config.privateKeyFile !== undefined) methods.push('publickey');
  if (config.password !== undefined || config.passwordFile !== undefined)
    methods.push('password', 'keyboard-interactive');
  switch (error.level) {
    case 'client-authentication':
      // The server refused the credentials we have: every attempt would send the same ones, and
      // repeated failed logins can get the account locked by the regulator's server.
      return new EodError(
        'UNAVAILABLE',
        `SFTP authentication failed for ${endpoint} (tried: ${methods.join(', ')}); check ${credentialKeys(config).join(', ')}; not retried`,
        { ...facts, keys: credentialKeys(config) },
        { retryable: false },
      );
    case 'client-timeout':
      return new EodError(
        'UNAVAILABLE',
        `SFTP connection to ${endpoint} timed out after ${config.connectTimeout} ms (reports[].sftp.connectTimeout)`,
        facts,
      );
    case 'handshake':
      return new EodError(
        'UNAVAILABLE',
        `SFTP connection to ${endpoint} failed in the SSH handshake: ${error.message}; a legacy server may need reports[].sftp.algorithms (see README, regulator's server)`,
        facts,
        { cause: error },
      );
    default:
      return new EodError('UNAVAILABLE', `SFTP connection to ${endpoint} failed: ${error.message}`, facts, {
        cause: error,
      });
  }
}

/** The config keys of the credentials that were tried (names only, never values). */
function credentialKeys(config: SftpConfig): string[] {
  const keys = ['reports[].sftp.username'];
  if (config.privateKeyFile !== undefined) keys.push('reports[].sftp.privateKeyFile');
  if (config.password !== undefined) keys.push('reports[].sftp.password');
  if (config.passwordFile !== undefined) keys.push('reports[].sftp.passwordFile');
  return keys;
}

/** ssh2 throws synchronously for an unusable key; its messages name the problem, not the key. */
function keyError(error: unknown, config: SftpConfig, endpoint: string): EodError {
  const reason = error instanceof Error ? error.message : String(error);
  return new EodError(
    'CONFIG_INVALID',
    `SFTP private key ${config.privateKeyFile ?? '(none)'} (sftp.privateKeyFile) for ${endpoint} cannot be used: ${reason}`,
    { file: config.privateKeyFile },
  );
}

/** Ends politely, destroys after a grace period; safe to call again (returns the same promise). */
function ender(client: Client): () => Promise<void> {
  let closed = false;
  client.once('close', () => {
    closed = true;
  });
  let ending: Promise<void> | undefined;
  return () => {
    ending ??= closed
      ? Promise.resolve()
      : new Promise((resolve) => {
          const timer = setTimeout(() => {
            client.destroy();
            resolve();
          }, 2_000);
          client.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          client.end();
        });
    return ending;
  };
}

let ssh2Module: Promise<typeof import('ssh2')> | undefined;

function loadSsh2(): Promise<typeof import('ssh2')> {
  if (ssh2Module === undefined) {
    ssh2Module = import('ssh2');
    // Awaited after the file reads; a failure before then must not count as unhandled.
    ssh2Module.catch(() => undefined);
  }
  return ssh2Module;
}

export async function connectSftp(config: SftpConfig, options: ConnectOptions = {}): Promise<SftpSession> {
  const endpoint = describeEndpoint(config);
  const { signal } = options;
  signal?.throwIfAborted();
  // ssh2 is loaded on the first connection, not at start-up (about 30 ms of the CLI's start before
  // the report's query, issue 11); its loading overlaps the reads of the pins and the key.
  const ssh2 = loadSsh2();
  const hostCheck = new HostKeyCheck(await loadHostKeyPins(config));
  const auth = await credentials(config, endpoint);
  const { Client } = await ssh2;
  signal?.throwIfAborted();

  // Our own socket, so Nagle is off from the first byte. With it on, every small SFTP request
  // waits for the peer's delayed ACK: measured against OpenSSH here, sequential 1 MiB writes
  // ran at 24 MB/s instead of 76, 32 KiB writes at 1.1 MB/s instead of 30.
  const sock = connectTcp({ host: config.host, port: config.port, noDelay: true });
  sock.setNoDelay(true);
  const client = new Client();
  const end = ender(client);
  const serverHostKey = config.algorithms?.serverHostKey ?? preferredHostKeyAlgorithms(hostCheck.pins);
  const algorithms = { ...config.algorithms, ...(serverHostKey === undefined ? {} : { serverHostKey }) };
  if (auth.password !== undefined) {
    // Servers that take a password only through keyboard-interactive (PAM and many appliances)
    // ask for it with a prompt: answer every prompt with the configured password.
    const password = auth.password;
    client.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => {
      finish(prompts.map(() => password));
    });
  }

  const ready = new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      client.destroy();
      reject(signal?.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const settle = () => signal?.removeEventListener('abort', onAbort);
    client.once('ready', () => {
      settle();
      resolve();
    });
    // Kept for the connection's life: ssh2 may emit several errors (a timeout, then "connection
    // lost"), and later ones reach pending SFTP requests through their callbacks anyway. An
    // unlistened 'error' event would crash the process.
    client.on('error', (error: Ssh2Error) => {
      settle();
      sock.destroy();
      reject(connectionError(error, config, endpoint, hostCheck));
    });
    client.once('close', () => {
      settle();
      reject(
        hostCheck.rejection ??
          new EodError('UNAVAILABLE', `SFTP connection to ${endpoint} closed before authentication`, {
            host: config.host,
            port: config.port,
          }),
      );
    });
  });

  // Awaited below; this only keeps a rejection that nobody awaits (a key error) from being unhandled.
  ready.catch(() => {});

  try {
    client.connect({
      sock,
      host: config.host,
      port: config.port,
      username: config.username,
      ...auth,
      hostVerifier: hostCheck.verify,
      readyTimeout: config.connectTimeout,
      keepaliveInterval: options.keepaliveInterval ?? 10_000,
      keepaliveCountMax: 3,
      ...(auth.password === undefined ? {} : { tryKeyboard: true }),
      ...(Object.keys(algorithms).length === 0
        ? {}
        : { algorithms: algorithms as ConnectConfig['algorithms'] }),
    });
  } catch (error) {
    sock.destroy();
    throw keyError(error, config, endpoint);
  }
  await ready;

  const sftp = await new Promise<SFTPWrapper>((resolve, reject) => {
    client.sftp((error, wrapper) => {
      if (error) {
        reject(
          new EodError('UNAVAILABLE', `SFTP subsystem refused on ${endpoint}: ${error.message}`, {
            host: config.host,
            port: config.port,
          }),
        );
      } else resolve(wrapper);
    });
  }).catch(async (error: unknown) => {
    await end();
    throw error;
  });

  return {
    client,
    sftp,
    hostKeySha256: hostCheck.offered ?? 'unknown',
    endpoint,
    socket: sock,
    end,
  };
}
