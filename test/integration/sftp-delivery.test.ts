/**
 * SftpDelivery against the real OpenSSH sshd (and once against the in-process fallback):
 * atomic delivery, idempotence after a crash, conflicts, host key pinning, clear errors.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  entryMatchesHost,
  fingerprintSha256,
  knownHostsName,
  parseKnownHosts,
} from '../../src/adapters/sftp/host-key.js';
import { type Failpoint, SftpDelivery } from '../../src/adapters/sftp/sftp-delivery.js';
import { EodError, isEodError } from '../../src/core/errors.js';
import { type EmbeddedSftp, startEmbeddedSftp, startInProcessSftp } from '../../src/embedded/sftp-server.js';
import { generateParsableEd25519 } from '../../src/embedded/ssh-keys.js';
import type { ReportContent } from '../../src/ports.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { memoryContent } from '../helpers/memory-content.js';
import { sftpConfigFor } from '../helpers/sftp-config.js';

const MiB = 1024 * 1024;

const configFor = sftpConfigFor;

/** The key blob the server presents, taken from a handshake we then refuse. */
function offeredHostKey(host: string, port: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let blob: Buffer | undefined;
    client.on('error', () => (blob ? resolve(blob) : reject(new Error('no host key seen'))));
    client.on('ready', () => client.end());
    client.connect({
      host,
      port,
      username: 'nobody',
      hostVerifier: (key: Buffer) => {
        blob = key;
        return false;
      },
    });
  });
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

describe('host key pins (known_hosts parsing)', () => {
  const blob = Buffer.from(ssh2.utils.generateKeyPairSync('ed25519').public.split(' ')[1] ?? '', 'base64');
  const line = `ssh-ed25519 ${blob.toString('base64')}`;

  it('reads plain, bracketed, listed, wildcard and negated host patterns', () => {
    const [entry] = parseKnownHosts(
      `# comment\n\nexample.org,[10.0.0.1]:2222,*.corp,!bad.corp ${line} comment\n`,
    );
    expect(entry?.fingerprint).toBe(fingerprintSha256(blob));
    expect(entry && entryMatchesHost(entry, 'EXAMPLE.org', 22)).toBe(true);
    expect(entry && entryMatchesHost(entry, 'example.org', 2222)).toBe(false);
    expect(entry && entryMatchesHost(entry, '10.0.0.1', 2222)).toBe(true);
    expect(entry && entryMatchesHost(entry, 'a.corp', 22)).toBe(true);
    expect(entry && entryMatchesHost(entry, 'bad.corp', 22)).toBe(false);
    expect(knownHostsName('h', 22)).toBe('h');
    expect(knownHostsName('h', 2222)).toBe('[h]:2222');
  });

  it('skips lines whose blob does not carry the claimed key type, and reads markers', () => {
    const entries = parseKnownHosts(
      [
        `h ssh-rsa ${blob.toString('base64')}`,
        `@revoked h ${line}`,
        `@cert-authority *.corp ${line}`,
        'h garbage',
      ].join('\n'),
    );
    expect(entries.map((e) => [e.marker, e.line])).toEqual([
      ['revoked', 2],
      ['cert-authority', 3],
    ]);
  });
});

describe('SftpDelivery against OpenSSH sshd', () => {
  let baseDir: string;
  let server: EmbeddedSftp;
  let hostKeyBlob: Buffer;
  let testNumber = 0;

  beforeAll(async () => {
    baseDir = await mkdtemp(path.join(os.tmpdir(), 'eod-sftp-test-'));
    server = await startEmbeddedSftp({ baseDir, requireOpenSsh: true });
    hostKeyBlob = await offeredHostKey(server.host, server.port);
  });

  afterAll(async () => {
    await server?.stop();
    if (baseDir) await rm(baseDir, { recursive: true, force: true });
  });

  /** A fresh remote directory per test, so tests cannot see each other's files. */
  async function freshDirectory(): Promise<string> {
    testNumber += 1;
    const directory = path.join(server.root, `t${testNumber}`);
    await mkdir(directory, { recursive: true });
    return directory;
  }

  it('computes fingerprints exactly as ssh-keygen -lf prints them', async () => {
    expect(fingerprintSha256(hostKeyBlob)).toBe(server.hostKeySha256);
    const file = path.join(baseDir, 'offered.pub');
    await writeFile(file, `ssh-ed25519 ${hostKeyBlob.toString('base64')}\n`);
    const printed = execFileSync('ssh-keygen', ['-lf', file], { encoding: 'utf8' });
    expect(printed.split(' ')[1]).toBe(fingerprintSha256(hostKeyBlob));
  });

  it('warm(): the next delivery uses the session connected ahead (one connection); close() ends an unused one', async () => {
    const directory = await freshDirectory();
    const proxy = await startFaultProxy({ host: server.host, port: server.port });
    try {
      const config = configFor(server, directory, { host: proxy.host, port: proxy.port });
      const bytes = randomBytes(MiB);
      const used = new SftpDelivery(config);
      used.warm();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await readdir(directory)).toEqual([]); // connecting ahead creates nothing
      await used.deliver('eod_20240201.csv', memoryContent(bytes));
      await used.close();
      expect(proxy.accepted).toBe(1);
      expect((await readFile(path.join(directory, 'eod_20240201.csv'))).equals(bytes)).toBe(true);

      const unused = new SftpDelivery(config);
      unused.warm();
      await new Promise((resolve) => setTimeout(resolve, 300));
      await unused.close();
      expect(proxy.accepted).toBe(2);
      await expect.poll(() => proxy.open, { timeout: 5000 }).toBe(0);
    } finally {
      await proxy.close();
    }
  });

  it('delivers a byte-equal file with mode 0640 and leaves no .part', async () => {
    const directory = await freshDirectory();
    const bytes = randomBytes(3 * MiB + 12_345);
    const content = memoryContent(bytes);
    const delivery = new SftpDelivery(configFor(server, directory));
    const receipt = await delivery.deliver('eod_20240131.csv', content);

    const final = path.join(directory, 'eod_20240131.csv');
    expect(receipt).toEqual({
      remotePath: final,
      bytes: bytes.length,
      sha256: content.sha256,
      alreadyPresent: false,
      temporaryPath: `${final}.part`,
      verifiedAfterRename: true,
      proof: expect.objectContaining({
        rename: 'posix-rename',
        verify: 'readback',
        mode: '0640',
        modeSeen: '0640',
        create: 'exclusive',
        writes: 'pipelined',
        verifiedBy: 'stat-size',
        notes: [],
      }),
    });
    expect((await readFile(final)).equals(bytes)).toBe(true);
    expect((await stat(final)).mode & 0o777).toBe(0o640);
    expect(await exists(`${final}.part`)).toBe(false);
  });

  it('a directory that does not exist is a permanent error naming reports[].sftp.directory', async () => {
    const directory = path.join(await freshDirectory(), 'no-such-inbox');
    const failure = await new SftpDelivery(configFor(server, directory))
      .deliver('eod.csv', memoryContent(Buffer.from('a\n')))
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(failure).toBeInstanceOf(EodError);
    expect((failure as EodError).message).toContain('reports[].sftp.directory');
    expect((failure as EodError).message).toContain(directory);
    expect((failure as EodError).retryable).toBe(false);
  });

  it('delivers an empty file (a header-only report is still a file)', async () => {
    const directory = await freshDirectory();
    const receipt = await new SftpDelivery(configFor(server, directory)).deliver(
      'empty.csv',
      memoryContent(Buffer.alloc(0)),
    );
    expect(receipt.alreadyPresent).toBe(false);
    expect((await stat(path.join(directory, 'empty.csv'))).size).toBe(0);
  });

  it('reports alreadyPresent for our own earlier delivery and does not upload again', async () => {
    const directory = await freshDirectory();
    const bytes = randomBytes(2 * MiB + 7);
    const final = path.join(directory, 'report.csv');
    await writeFile(final, bytes, { mode: 0o640 });
    const past = new Date('2024-01-01T00:00:00Z');
    await utimes(final, past, past);

    const receipt = await new SftpDelivery(configFor(server, directory)).deliver(
      'report.csv',
      memoryContent(bytes),
    );
    expect(receipt.alreadyPresent).toBe(true);
    expect((await stat(final)).mtime.getTime()).toBe(past.getTime());
    expect(await exists(`${final}.part`)).toBe(false);
  });

  it.each([
    ['the same size', (ours: Buffer) => Buffer.from(ours).fill(0x41, 0, 10)],
    ['another size', (ours: Buffer) => Buffer.concat([ours, Buffer.from('x')])],
  ])(
    'refuses with REMOTE_CONFLICT when the final file has other content (%s) and leaves it untouched',
    async (_, theirs) => {
      const directory = await freshDirectory();
      const ours = randomBytes(64 * 1024);
      const existing = theirs(ours);
      const final = path.join(directory, 'report.csv');
      await writeFile(final, existing);
      const past = new Date('2024-01-01T00:00:00Z');
      await utimes(final, past, past);

      const error = await rejection(
        new SftpDelivery(configFor(server, directory)).deliver('report.csv', memoryContent(ours)),
      );
      expect(isEodError(error, 'REMOTE_CONFLICT')).toBe(true);
      expect(error.message).toContain(final);
      expect((await readFile(final)).equals(existing)).toBe(true);
      expect((await stat(final)).mtime.getTime()).toBe(past.getTime());
      expect(await exists(`${final}.part`)).toBe(false);
    },
  );

  it('replaces a leftover .part of an interrupted upload', async () => {
    const directory = await freshDirectory();
    const final = path.join(directory, 'report.csv');
    await writeFile(`${final}.part`, 'half a file from last night', { mode: 0o666 });
    await chmod(`${final}.part`, 0o666);
    const bytes = randomBytes(100_000);

    const receipt = await new SftpDelivery(configFor(server, directory)).deliver(
      'report.csv',
      memoryContent(bytes),
    );
    expect(receipt.alreadyPresent).toBe(false);
    expect((await readFile(final)).equals(bytes)).toBe(true);
    // Recreated, not truncated: the leftover's 0666 must not survive into the delivered file.
    expect((await stat(final)).mode & 0o777).toBe(0o640);
    expect(await exists(`${final}.part`)).toBe(false);
  });

  it('refuses a host key that is not pinned, naming the offered and the expected fingerprint', async () => {
    const directory = await freshDirectory();
    const wrong = `SHA256:${Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '')}`;
    const delivery = new SftpDelivery(configFor(server, directory, { hostKeySha256: wrong }));
    const error = await rejection(delivery.deliver('report.csv', memoryContent(Buffer.from('a,b\n'))));
    expect(isEodError(error, 'HOST_KEY_REJECTED')).toBe(true);
    expect(error.message).toContain(`SFTP host key of 127.0.0.1:${server.port} is not pinned`);
    expect(error.message).toContain(`server offered ${server.hostKeySha256}`);
    expect(error.message).toContain(wrong);
    expect(await exists(path.join(directory, 'report.csv'))).toBe(false);
    expect(await exists(path.join(directory, 'report.csv.part'))).toBe(false);
  });

  describe('knownHostsFile', () => {
    const keyLine = () => `ssh-ed25519 ${hostKeyBlob.toString('base64')}`;

    async function deliverWith(knownHosts: string): Promise<unknown> {
      const directory = await freshDirectory();
      const file = path.join(baseDir, `known_hosts_${testNumber}`);
      await writeFile(file, knownHosts);
      const config = configFor(server, directory, { hostKeySha256: undefined, knownHostsFile: file });
      return new SftpDelivery(config).deliver('report.csv', memoryContent(Buffer.from('a,b\n1,2\n')));
    }

    it('accepts a plain [host]:port entry in a comma list', async () => {
      const receipt = await deliverWith(`# pinned\nother.example,[127.0.0.1]:${server.port} ${keyLine()}\n`);
      expect(receipt).toMatchObject({ alreadyPresent: false });
    });

    it('accepts a hashed entry written by ssh-keygen -H', async () => {
      const file = path.join(baseDir, 'hashed_known_hosts');
      await writeFile(file, `[127.0.0.1]:${server.port} ${keyLine()}\n`);
      execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
      const hashed = await readFile(file, 'utf8');
      expect(hashed).toMatch(/^\|1\|/);
      expect(hashed).not.toContain('127.0.0.1');
      const receipt = await deliverWith(hashed);
      expect(receipt).toMatchObject({ alreadyPresent: false });
    });

    it('refuses when the key is listed only for another host (or port)', async () => {
      const error = (await rejection(
        deliverWith(`127.0.0.1 ${keyLine()}\n[localhost]:${server.port} ${keyLine()}\n`) as Promise<unknown>,
      )) as Error;
      expect(isEodError(error, 'HOST_KEY_REJECTED')).toBe(true);
      expect(error.message).toContain(`server offered ${server.hostKeySha256}`);
      expect(error.message).toContain(`no pinned key found in`);
    });

    it('refuses a key marked @revoked even when it is also listed', async () => {
      const entry = `[127.0.0.1]:${server.port} ${keyLine()}`;
      const error = (await rejection(
        deliverWith(`${entry}\n@revoked ${entry}\n`) as Promise<unknown>,
      )) as Error;
      expect(isEodError(error, 'HOST_KEY_REJECTED')).toBe(true);
      expect(error.message).toContain('revoked');
      expect(error.message).toContain(server.hostKeySha256);
    });
  });

  it('refuses a client key the server does not know, with no secret in the message', async () => {
    const directory = await freshDirectory();
    const pair = generateParsableEd25519('stranger');
    const keyFile = path.join(baseDir, 'stranger_ed25519');
    await writeFile(keyFile, pair.private, { mode: 0o600 });
    const password = 'hunter2-not-for-logs';
    const delivery = new SftpDelivery(configFor(server, directory, { privateKeyFile: keyFile, password }));
    const error = await rejection(delivery.deliver('report.csv', memoryContent(Buffer.from('a\n'))));
    expect(error.message).toBe(
      `SFTP authentication failed for ${server.username}@127.0.0.1:${server.port} (tried: publickey, password, keyboard-interactive); check reports[].sftp.username, reports[].sftp.privateKeyFile, reports[].sftp.password; not retried`,
    );
    expect(isEodError(error) && error.retryable, 'the same credentials would be refused again').toBe(false);
    const everything = JSON.stringify({
      message: error.message,
      stack: error.stack,
      facts: (error as { facts?: unknown }).facts,
    });
    expect(everything).not.toContain(password);
    expect(everything).not.toContain(pair.private.split('\n')[1]);
  });

  it('uses a passphrase-protected key with passphrase or passphraseFile; a wrong one is a clear config error', async () => {
    const directory = await freshDirectory();
    const keyFile = path.join(baseDir, 'encrypted_ed25519');
    await writeFile(keyFile, await readFile(server.privateKeyFile), { mode: 0o600 });
    const passphrase = 'correct horse battery staple';
    execFileSync('ssh-keygen', ['-p', '-q', '-f', keyFile, '-P', '', '-N', passphrase], { stdio: 'ignore' });
    const passphraseFile = path.join(baseDir, 'passphrase');
    await writeFile(passphraseFile, `${passphrase}\n`, { mode: 0o600 });

    await expect(
      new SftpDelivery(configFor(server, directory, { privateKeyFile: keyFile, passphrase })).check(),
    ).resolves.toContain(' ok ');
    await expect(
      new SftpDelivery(configFor(server, directory, { privateKeyFile: keyFile, passphraseFile })).check(),
    ).resolves.toContain(' ok ');

    const wrong = 'tr0ub4dor&3';
    const error = await rejection(
      new SftpDelivery(configFor(server, directory, { privateKeyFile: keyFile, passphrase: wrong })).check(),
    );
    expect(isEodError(error, 'CONFIG_INVALID')).toBe(true);
    expect(error.message).toContain(`SFTP private key ${keyFile}`);
    expect(error.message).not.toContain(wrong);
  });

  it('gives up after connectTimeout on a server that never speaks SSH, and names a refused port', async () => {
    const accepted = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      accepted.add(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const config = configFor(server, '/', { port, connectTimeout: 300 });
      await expect(new SftpDelivery(config).check()).rejects.toThrow(
        `SFTP connection to ${server.username}@127.0.0.1:${port} timed out after 300 ms`,
      );
    } finally {
      for (const socket of accepted) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
    const error = await rejection(new SftpDelivery(configFor(server, '/', { port })).check());
    expect(isEodError(error, 'UNAVAILABLE')).toBe(true);
    expect(error.message).toContain(`SFTP connection to ${server.username}@127.0.0.1:${port} failed`);
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('fails without a final file when the content stream fails (e.g. its own hash check)', async () => {
    const directory = await freshDirectory();
    const good = memoryContent(randomBytes(3 * MiB));
    const broken: ReportContent = {
      ...good,
      open: () =>
        Readable.from(
          (async function* () {
            yield randomBytes(MiB + 10);
            yield randomBytes(MiB);
            throw new Error('report content sha256 mismatch');
          })(),
        ),
    };
    await expect(
      new SftpDelivery(configFor(server, directory)).deliver('report.csv', broken),
    ).rejects.toThrow('report content sha256 mismatch');
    expect(await exists(path.join(directory, 'report.csv'))).toBe(false);
  });

  it('names the path and "No such file" when the directory does not exist', async () => {
    const directory = path.join(server.root, 'does-not-exist');
    const delivery = new SftpDelivery(configFor(server, directory));
    const error = await rejection(delivery.deliver('report.csv', memoryContent(Buffer.from('a\n'))));
    expect(error.message).toContain(`${directory}/report.csv.part`);
    expect(error.message).toContain(`127.0.0.1:${server.port}`);
    expect(error.message).toContain('No such file');
    await expect(delivery.check()).rejects.toThrow(/does-not-exist.*No such file/);
  });

  it('says "not a directory" from check() and fails deliver() when a regular file sits where the directory should be', async () => {
    const directory = path.join(await freshDirectory(), 'a-file');
    await writeFile(directory, 'not a directory');
    const delivery = new SftpDelivery(configFor(server, directory));
    await expect(delivery.check()).rejects.toThrow(/is not a directory/);
    // OpenSSH maps ENOTDIR to SSH_FX_NO_SUCH_FILE, so that is what the operator sees here.
    const error = await rejection(delivery.deliver('report.csv', memoryContent(Buffer.from('a\n'))));
    expect(error.message).toContain(`${directory}/report.csv.part`);
    expect(error.message).toContain('No such file');
  });

  it('names the path and "Permission denied" when the directory is not writable', async () => {
    // The sshd session runs as root here, and root ignores mode bits (chmod 0555 would not
    // stop it). An immutable directory (chattr +i) refuses even root with EPERM, which
    // OpenSSH reports as SSH_FX_PERMISSION_DENIED: the server's real answer, not a simulation.
    const directory = await freshDirectory();
    try {
      execFileSync('chattr', ['+i', directory], { stdio: 'ignore' });
    } catch (error) {
      throw new Error(
        `chattr +i failed (${(error as Error).message}): this test needs a file system with immutable files (ext4, xfs) and the chattr command (Debian package e2fsprogs) to make a directory unwritable for root`,
      );
    }
    try {
      const delivery = new SftpDelivery(configFor(server, directory));
      const error = await rejection(delivery.deliver('report.csv', memoryContent(Buffer.from('a\n'))));
      expect(error.message).toContain(`${directory}/report.csv.part`);
      expect(error.message).toContain('Permission denied');
      expect(await exists(path.join(directory, 'report.csv'))).toBe(false);
    } finally {
      execFileSync('chattr', ['-i', directory], { stdio: 'ignore' });
    }
  });

  it('stops on abort mid-upload: no final file; the next attempt replaces the .part', async () => {
    const directory = await freshDirectory();
    const final = path.join(directory, 'report.csv');
    const bytes = randomBytes(8 * MiB);
    const content = memoryContent(bytes);
    const controller = new AbortController();
    const seen: string[] = [];
    const failpoint: Failpoint = (name) => {
      seen.push(name);
      if (name === 'sftp.mid-upload') controller.abort(new Error('lock lost'));
    };

    const error = await rejection(
      new SftpDelivery(configFor(server, directory), failpoint).deliver('report.csv', content, {
        signal: controller.signal,
      }),
    );
    expect(error.message).toBe('lock lost');
    expect(seen).toEqual(['sftp.mid-upload']);
    expect(await exists(final)).toBe(false);
    const part = await stat(`${final}.part`);
    expect(part.size).toBeLessThan(bytes.length);

    const receipt = await new SftpDelivery(configFor(server, directory)).deliver('report.csv', content);
    expect(receipt.alreadyPresent).toBe(false);
    expect((await readFile(final)).equals(bytes)).toBe(true);
    expect(await exists(`${final}.part`)).toBe(false);
  });

  it('resumes after a crash at each failpoint', async () => {
    const bytes = randomBytes(MiB + 1);
    const content = memoryContent(bytes);
    for (const point of [
      'sftp.mid-upload',
      'sftp.after-part-upload',
      'sftp.before-rename',
      'sftp.after-rename',
    ]) {
      const directory = await freshDirectory();
      const final = path.join(directory, 'report.csv');
      const crash: Failpoint = (name) => {
        if (name === point) throw new Error(`crash at ${name}`);
      };
      await expect(
        new SftpDelivery(configFor(server, directory), crash).deliver('report.csv', content),
      ).rejects.toThrow(`crash at ${point}`);
      const renamed = point === 'sftp.after-rename';
      expect(await exists(final), point).toBe(renamed);
      if (!renamed) expect(await exists(`${final}.part`), point).toBe(true);

      const receipt = await new SftpDelivery(configFor(server, directory)).deliver('report.csv', content);
      expect(receipt.alreadyPresent, point).toBe(renamed);
      expect((await readFile(final)).equals(bytes), point).toBe(true);
      expect(await exists(`${final}.part`), point).toBe(false);
    }
  });

  it('calls beforeRename right before the rename; when it throws, nothing becomes visible', async () => {
    const directory = await freshDirectory();
    const final = path.join(directory, 'report.csv');
    const content = memoryContent(randomBytes(10_000));
    const order: string[] = [];
    const delivery = new SftpDelivery(configFor(server, directory), (name) => {
      order.push(name);
    });
    const beforeRename = async () => {
      order.push('beforeRename');
      throw new Error('lease lost');
    };
    await expect(delivery.deliver('report.csv', content, { beforeRename })).rejects.toThrow('lease lost');
    expect(order).toEqual([
      'sftp.mid-upload',
      'sftp.after-part-upload',
      'sftp.before-rename',
      'beforeRename',
    ]);
    expect(await exists(final)).toBe(false);
  });

  it('check() connects, pins the host key and describes the target in its first line', async () => {
    const directory = await freshDirectory();
    const report = await new SftpDelivery(configFor(server, directory)).check();
    expect(report.split('\n')[0]).toBe(
      `sftp ${server.username}@127.0.0.1:${server.port} ${directory} ok (host key ${server.hostKeySha256})`,
    );
  });

  it('uploads 20 MiB (throughput printed, not asserted)', async () => {
    const directory = await freshDirectory();
    const bytes = randomBytes(20 * MiB);
    // The failpoints mark the streaming phase: from the first 1 MiB acknowledged to the part
    // written, fsynced and closed. The total adds connect, handshake, checks and rename.
    const marks = new Map<string, number>();
    const delivery = new SftpDelivery(configFor(server, directory), (name) => {
      marks.set(name, performance.now());
    });
    const started = performance.now();
    const receipt = await delivery.deliver('big.csv', memoryContent(bytes));
    const total = (performance.now() - started) / 1000;
    const streaming =
      ((marks.get('sftp.after-part-upload') ?? 0) - (marks.get('sftp.mid-upload') ?? 0)) / 1000;
    const mbps = (n: number, seconds: number) => (n / 1e6 / seconds).toFixed(1);
    console.log(
      `[sftp] 20 MiB to OpenSSH: ${total.toFixed(2)} s in all (${mbps(bytes.length, total)} MB/s), ` +
        `streaming ${mbps(bytes.length - MiB, streaming)} MB/s`,
    );
    expect(receipt.bytes).toBe(bytes.length);
    expect((await readFile(path.join(directory, 'big.csv'))).equals(bytes)).toBe(true);
  });
});

describe('SftpDelivery against the in-process ssh2 SFTP server (fallback)', () => {
  let baseDir: string;
  let server: EmbeddedSftp;

  beforeAll(async () => {
    baseDir = await mkdtemp(path.join(os.tmpdir(), 'eod-sftp-inproc-'));
    server = await startInProcessSftp({ baseDir });
  });

  afterAll(async () => {
    await server?.stop();
    if (baseDir) await rm(baseDir, { recursive: true, force: true });
  });

  it('delivers, then recognises its own delivery', async () => {
    const directory = path.join(server.root, 'inbox');
    await mkdir(directory, { recursive: true });
    const bytes = randomBytes(3 * MiB + 1);
    const content = memoryContent(bytes);
    const delivery = new SftpDelivery(configFor(server, directory));

    expect((await delivery.deliver('report.csv', content)).alreadyPresent).toBe(false);
    const final = path.join(directory, 'report.csv');
    expect((await readFile(final)).equals(bytes)).toBe(true);
    expect((await stat(final)).mode & 0o777).toBe(0o640);
    expect(await exists(`${final}.part`)).toBe(false);
    expect((await delivery.deliver('report.csv', content)).alreadyPresent).toBe(true);
  });
});
