import { timingSafeEqual } from 'node:crypto';
import type { Stats } from 'node:fs';
import { constants as fsConstants } from 'node:fs';
import {
  chmod,
  chown,
  type FileHandle,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  rename,
  rmdir,
  stat,
  truncate,
  unlink,
  utimes,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Attributes, Connection, FileEntry, ParsedKey, SFTPWrapper } from 'ssh2';
import ssh2 from 'ssh2';
import { freePort } from './free-port.js';
import type { EmbeddedSftp, EmbeddedSftpOptions } from './sftp-server.js';
import { writeEd25519KeyPair } from './ssh-keys.js';

const { OPEN_MODE, STATUS_CODE } = ssh2.utils.sftp;
const POSIX_RENAME = 'posix-rename@openssh.com';
const READ_CHUNK_MAX = 256 * 1024;
const READDIR_BATCH = 100;

/**
 * An SFTP server inside this Node process (ssh2's `Server`), for machines without OpenSSH. It
 * serves the local file system 1:1 under `root` (remote path = local absolute path; relative
 * paths resolve against `root`), refuses every path outside it, and accepts only the generated
 * client key. It mimics OpenSSH's sftp-server where the product depends on it: plain RENAME
 * refuses an existing target, `posix-rename@openssh.com` replaces it atomically.
 */
/**
 * Behaviours of regulators' servers that the Debian-packaged servers here do not show
 * (issue 10), to test the delivery adapter against them.
 */
export interface InProcessQuirks {
  /** Answer OP_UNSUPPORTED to an OPEN with O_EXCL (servers without exclusive create). */
  noExclusiveCreate?: boolean;
  /** Attributes carry no size (STAT, LSTAT, FSTAT). */
  noSize?: boolean;
  /** FSTAT of a file open for writing reports size 0. */
  fstatSizeZero?: boolean;
  /** Accept only keyboard-interactive authentication, with this password. */
  keyboardInteractivePassword?: string;
  /** Refuse posix-rename@openssh.com (announce no extensions). */
  noPosixRename?: boolean;
  /** Refuse a WRITE that arrives while another on the same handle is unanswered ("Illegal seek"). */
  noPipelinedWrites?: boolean;
}

export async function startInProcessSftp(
  options: EmbeddedSftpOptions & { quirks?: InProcessQuirks; name?: string },
): Promise<EmbeddedSftp> {
  const quirks = options.quirks ?? {};
  const log = options.log ?? (() => undefined);
  const dir = path.join(options.baseDir, options.name ?? 'sftp-in-process');
  const root = path.join(options.baseDir, options.name === undefined ? 'sftp-root' : `${options.name}-root`);
  await mkdir(dir, { recursive: true });
  await mkdir(root, { recursive: true, mode: 0o755 });
  await chmod(root, 0o755);

  const hostKey = await writeEd25519KeyPair(dir, 'host_ed25519');
  const clientKey = await writeEd25519KeyPair(dir, 'client_ed25519');
  const allowed = ssh2.utils.parseKey(clientKey.publicKeyLine);
  if (allowed instanceof Error) throw allowed;
  const username = os.userInfo().username;

  const connections = new Set<Connection>();
  const server = new ssh2.Server({ hostKeys: [hostKey.privateKey] }, (client) => {
    connections.add(client);
    client.on('close', () => connections.delete(client));
    // Without a listener a reset connection would crash the whole process.
    client.on('error', (error) => log(`[sftp-in-process] connection error: ${error.message}`));
    client.on('authentication', (ctx) => {
      const password = quirks.keyboardInteractivePassword;
      if (password !== undefined) {
        if (ctx.method !== 'keyboard-interactive' || ctx.username !== username) {
          ctx.reject(['keyboard-interactive']);
          return;
        }
        ctx.prompt([{ prompt: 'Password: ', echo: false }], (answers) => {
          if (answers.length === 1 && answers[0] === password) ctx.accept();
          else ctx.reject(['keyboard-interactive']);
        });
        return;
      }
      if (ctx.method !== 'publickey' || ctx.username !== username || !sameKey(allowed, ctx.key)) {
        ctx.reject(['publickey']);
        return;
      }
      // Without a signature the client only asks whether this key would do; with one, it proves
      // possession of the private key.
      if (ctx.signature === undefined) {
        ctx.accept();
        return;
      }
      if (allowed.verify(ctx.blob ?? Buffer.alloc(0), ctx.signature, ctx.hashAlgo) === true) ctx.accept();
      else ctx.reject(['publickey']);
    });
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('sftp', (acceptSftp) => {
          const sftp = acceptSftp();
          if (!quirks.noPosixRename) advertiseExtensions(sftp, [[POSIX_RENAME, '1']]);
          serveFiles(sftp, root, log, quirks);
        });
      });
    });
  });

  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      server.on('error', (error: Error) => log(`[sftp-in-process] server error: ${error.message}`));
      resolve();
    });
  });
  log(`[sftp-in-process] listening on 127.0.0.1:${port}, serving ${root}`);

  return {
    kind: 'in-process',
    host: '127.0.0.1',
    port,
    username,
    privateKeyFile: clientKey.privateKeyFile,
    hostKeySha256: hostKey.fingerprint,
    root,
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const connection of connections) connection.end();
      await closed;
    },
  };
}

function sameKey(allowed: ParsedKey, offered: { algo: string; data: Buffer }): boolean {
  const expected = allowed.getPublicSSH();
  return (
    offered.algo === allowed.type &&
    offered.data.length === expected.length &&
    timingSafeEqual(offered.data, expected)
  );
}

/** The parts of ssh2's SFTP object we reach into; see `advertiseExtensions`. */
interface SftpInternals {
  outgoing: { id: number; window: number };
  _protocol: { channelData(id: number, data: Buffer): void };
}

const SFTP_VERSION_PACKET_TYPE = 2;
/** Per connection: the SFTP channels (by outgoing channel id) whose VERSION is still to be sent. */
const awaitingVersion = new WeakMap<object, Map<number, SftpInternals>>();

/**
 * ssh2's server answers INIT with a fixed VERSION packet that lists no extensions, and its client
 * only offers `ext_openssh_rename` when the server's VERSION lists `posix-rename@openssh.com`.
 * There is no option for this, so for each connection we wrap the protocol's `channelData` once
 * and replace the first VERSION packet of each SFTP channel with one carrying our extensions,
 * charging the channel window for the extra bytes. Everything else passes through untouched.
 */
function advertiseExtensions(sftp: SFTPWrapper, extensions: Array<[string, string]>): void {
  const channel = sftp as unknown as SftpInternals;
  const protocol = channel._protocol;
  let waiting = awaitingVersion.get(protocol);
  if (waiting === undefined) {
    const channels = new Map<number, SftpInternals>();
    waiting = channels;
    awaitingVersion.set(protocol, channels);
    const original = protocol.channelData.bind(protocol);
    protocol.channelData = (id: number, data: Buffer): void => {
      const target = channels.get(id);
      if (target === undefined || data.length !== 9 || data[4] !== SFTP_VERSION_PACKET_TYPE) {
        original(id, data);
        return;
      }
      channels.delete(id);
      const packet = versionPacket(data.readUInt32BE(5), extensions);
      target.outgoing.window -= packet.length - data.length;
      original(id, packet);
    };
  }
  waiting.set(channel.outgoing.id, channel);
}

function versionPacket(version: number, extensions: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [Buffer.from([SFTP_VERSION_PACKET_TYPE, 0, 0, 0, 0])];
  parts[0]?.writeUInt32BE(version, 1);
  for (const [name, data] of extensions) parts.push(sshString(name), sshString(data));
  const body = Buffer.concat(parts);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
}

function sshString(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

type OpenHandle =
  | { kind: 'file'; file: FileHandle; path: string }
  | { kind: 'dir'; path: string; entries: FileEntry[] | undefined };

class SftpError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Registers the request handlers of one SFTP session. Handles live as long as the session. */
function serveFiles(
  sftp: SFTPWrapper,
  root: string,
  log: (line: string) => void,
  quirks: InProcessQuirks,
): void {
  const attrsOf = (info: Stats): Attributes => {
    const attrs = toAttrs(info);
    // ssh2 writes the size flag whenever `size` is a number.
    if (quirks.noSize) delete (attrs as Partial<Attributes>).size;
    return attrs;
  };
  const handles = new Map<string, OpenHandle>();
  let nextHandle = 0;

  const local = (remote: string): string => {
    const resolved = path.resolve(root, remote);
    if (resolved !== root && !resolved.startsWith(`${root}${path.sep}`)) {
      throw new SftpError(STATUS_CODE.PERMISSION_DENIED, `outside the served directory: ${remote}`);
    }
    return resolved;
  };
  const lookup = (handle: Buffer): OpenHandle => {
    const found = handles.get(handle.toString('hex'));
    if (found === undefined) throw new SftpError(STATUS_CODE.FAILURE, 'invalid handle');
    return found;
  };
  const lookupFile = (handle: Buffer): { file: FileHandle; path: string } => {
    const found = lookup(handle);
    if (found.kind !== 'file') throw new SftpError(STATUS_CODE.FAILURE, 'not a file handle');
    return found;
  };
  const register = (entry: OpenHandle): Buffer => {
    const handle = Buffer.alloc(4);
    handle.writeUInt32BE(nextHandle++);
    handles.set(handle.toString('hex'), entry);
    return handle;
  };
  // Every request answers exactly once: a result, or a status mapped from the error.
  const run = (reqId: number, work: () => Promise<void>): void => {
    work().catch((error: unknown) => {
      const { code, message } = toStatus(error);
      if (code === STATUS_CODE.FAILURE) log(`[sftp-in-process] request ${reqId} failed: ${message}`);
      sftp.status(reqId, code, message);
    });
  };

  sftp.on('OPEN', (reqId, filename, flags, attrs) =>
    run(reqId, async () => {
      const filePath = local(filename);
      if (quirks.noExclusiveCreate && flags & OPEN_MODE.EXCL)
        throw new SftpError(STATUS_CODE.OP_UNSUPPORTED, 'exclusive create not supported');
      const file = await open(filePath, toOpenFlags(flags), attrs.mode ?? 0o644);
      sftp.handle(reqId, register({ kind: 'file', file, path: filePath }));
    }),
  );
  sftp.on('READ', (reqId, handle, offset, length) =>
    run(reqId, async () => {
      const { file } = lookupFile(handle);
      const buffer = Buffer.alloc(Math.min(length, READ_CHUNK_MAX));
      const { bytesRead } = await file.read(buffer, 0, buffer.length, offset);
      if (bytesRead === 0) sftp.status(reqId, STATUS_CODE.EOF);
      else sftp.data(reqId, buffer.subarray(0, bytesRead));
    }),
  );
  const writing = new Set<string>();
  sftp.on('WRITE', (reqId, handle, offset, data) =>
    run(reqId, async () => {
      const { file } = lookupFile(handle);
      const key = handle.toString('hex');
      if (quirks.noPipelinedWrites) {
        if (writing.has(key)) throw new SftpError(STATUS_CODE.FAILURE, 'Illegal seek');
        writing.add(key);
      }
      try {
        await writeAll(file, data, offset);
      } finally {
        writing.delete(key);
      }
      sftp.status(reqId, STATUS_CODE.OK);
    }),
  );
  const writeAll = async (file: FileHandle, data: Buffer, offset: number) => {
    let written = 0;
    while (written < data.length) {
      const result = await file.write(data, written, data.length - written, offset + written);
      written += result.bytesWritten;
    }
  };
  sftp.on('CLOSE', (reqId, handle) =>
    run(reqId, async () => {
      const entry = lookup(handle);
      handles.delete(handle.toString('hex'));
      if (entry.kind === 'file') await entry.file.close();
      sftp.status(reqId, STATUS_CODE.OK);
    }),
  );
  sftp.on('FSTAT', (reqId, handle) =>
    run(reqId, async () => {
      const entry = lookup(handle);
      const attrs = attrsOf(entry.kind === 'file' ? await entry.file.stat() : await stat(entry.path));
      if (quirks.fstatSizeZero && entry.kind === 'file' && attrs.size !== undefined) attrs.size = 0;
      sftp.attrs(reqId, attrs);
    }),
  );
  sftp.on('STAT', (reqId, remote) =>
    run(reqId, async () => {
      sftp.attrs(reqId, attrsOf(await stat(local(remote))));
    }),
  );
  sftp.on('LSTAT', (reqId, remote) =>
    run(reqId, async () => {
      sftp.attrs(reqId, attrsOf(await lstat(local(remote))));
    }),
  );
  sftp.on('SETSTAT', (reqId, remote, attrs) =>
    run(reqId, async () => {
      await applyAttrs(local(remote), attrs);
      sftp.status(reqId, STATUS_CODE.OK);
    }),
  );
  sftp.on('FSETSTAT', (reqId, handle, attrs) =>
    run(reqId, async () => {
      const entry = lookup(handle);
      if (entry.kind === 'file') await applyAttrs(entry.file, attrs);
      else await applyAttrs(entry.path, attrs);
      sftp.status(reqId, STATUS_CODE.OK);
    }),
  );
  sftp.on('REMOVE', (reqId, remote) =>
    run(reqId, async () => {
      await unlink(local(remote));
      sftp.status(reqId, STATUS_CODE.OK);
    }),
  );
  sftp.on('RMDIR', (reqId, remote) =>
    run(reqId, async () => {
      await rmdir(local(remote));
      sftp.status(reqId, STATUS_CODE.OK);
    }),
  );
  sftp.on('MKDIR', (reqId, remote, attrs) =>
    run(reqId, async () => {
      await mkdir(local(remote), attrs.mode ?? 0o755);
      sftp.status(reqId, STATUS_CODE.OK);
    }),
  );
  sftp.on('RENAME', (reqId, from, to) =>
    run(reqId, async () => {
      await renameNoReplace(local(from), local(to));
      sftp.status(reqId, STATUS_CODE.OK);
    }),
  );
  sftp.on('REALPATH', (reqId, remote) =>
    run(reqId, async () => {
      const resolved = local(remote);
      sftp.name(reqId, [{ filename: resolved, longname: resolved, attrs: {} as Attributes }]);
    }),
  );
  sftp.on('OPENDIR', (reqId, remote) =>
    run(reqId, async () => {
      const dirPath = local(remote);
      if (!(await stat(dirPath)).isDirectory())
        throw new SftpError(STATUS_CODE.FAILURE, `not a directory: ${remote}`);
      sftp.handle(reqId, register({ kind: 'dir', path: dirPath, entries: undefined }));
    }),
  );
  sftp.on('READDIR', (reqId, handle) =>
    run(reqId, async () => {
      const entry = lookup(handle);
      if (entry.kind !== 'dir') throw new SftpError(STATUS_CODE.FAILURE, 'not a directory handle');
      entry.entries ??= await listDirectory(entry.path);
      const batch = entry.entries.splice(0, READDIR_BATCH);
      if (batch.length === 0) sftp.status(reqId, STATUS_CODE.EOF);
      else sftp.name(reqId, batch);
    }),
  );
  sftp.on('EXTENDED', (reqId, name, data) =>
    run(reqId, async () => {
      if (name !== POSIX_RENAME || quirks.noPosixRename)
        throw new SftpError(STATUS_CODE.OP_UNSUPPORTED, `unsupported extension ${name}`);
      const [from, to] = readSshStrings(data, 2);
      if (from === undefined || to === undefined)
        throw new SftpError(STATUS_CODE.BAD_MESSAGE, `malformed ${name}`);
      // rename(2) replaces an existing target atomically, which is what the extension promises.
      await rename(local(from), local(to));
      sftp.status(reqId, STATUS_CODE.OK);
    }),
  );
  sftp.on('close', () => {
    for (const entry of handles.values())
      if (entry.kind === 'file') void entry.file.close().catch(() => undefined);
    handles.clear();
  });
}

/**
 * SFTP v3 RENAME as OpenSSH's sftp-server does it: a regular file is hard-linked to the new name
 * and then unlinked, so an existing target makes it fail instead of being replaced.
 */
async function renameNoReplace(from: string, to: string): Promise<void> {
  const source = await lstat(from);
  if (source.isFile()) {
    try {
      await link(from, to);
      await unlink(from);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new SftpError(STATUS_CODE.FAILURE, 'target exists');
      }
      // File systems without hard links: fall through to check-then-rename like OpenSSH.
    }
  }
  const exists = await lstat(to).then(
    () => true,
    () => false,
  );
  if (exists) throw new SftpError(STATUS_CODE.FAILURE, 'target exists');
  await rename(from, to);
}

async function listDirectory(dirPath: string): Promise<FileEntry[]> {
  const names = ['.', '..', ...(await readdir(dirPath))];
  const entries: FileEntry[] = [];
  for (const name of names) {
    const info = await lstat(path.join(dirPath, name)).catch(() => undefined);
    if (info === undefined) continue; // removed while listing
    entries.push({ filename: name, longname: longName(name, info), attrs: toAttrs(info) });
  }
  return entries;
}

function longName(name: string, info: Stats): string {
  const type = info.isDirectory() ? 'd' : info.isSymbolicLink() ? 'l' : '-';
  const bits = 'rwxrwxrwx'
    .split('')
    .map((flag, index) => ((info.mode >> (8 - index)) & 1 ? flag : '-'))
    .join('');
  const date = info.mtime.toISOString().slice(0, 16).replace('T', ' ');
  return `${type}${bits} ${info.nlink} ${info.uid} ${info.gid} ${info.size} ${date} ${name}`;
}

function toAttrs(info: Stats): Attributes {
  return {
    mode: info.mode,
    uid: info.uid,
    gid: info.gid,
    size: info.size,
    atime: Math.floor(info.atimeMs / 1000),
    mtime: Math.floor(info.mtimeMs / 1000),
  };
}

async function applyAttrs(target: string | FileHandle, attrs: Partial<Attributes>): Promise<void> {
  const onPath = typeof target === 'string';
  if (attrs.size !== undefined) await (onPath ? truncate(target, attrs.size) : target.truncate(attrs.size));
  if (attrs.mode !== undefined)
    await (onPath ? chmod(target, attrs.mode & 0o7777) : target.chmod(attrs.mode & 0o7777));
  if (attrs.uid !== undefined && attrs.gid !== undefined) {
    await (onPath ? chown(target, attrs.uid, attrs.gid) : target.chown(attrs.uid, attrs.gid));
  }
  if (attrs.atime !== undefined && attrs.mtime !== undefined) {
    await (onPath ? utimes(target, attrs.atime, attrs.mtime) : target.utimes(attrs.atime, attrs.mtime));
  }
}

function toOpenFlags(flags: number): number {
  const read = (flags & OPEN_MODE.READ) !== 0;
  const write = (flags & OPEN_MODE.WRITE) !== 0 || (flags & OPEN_MODE.APPEND) !== 0;
  let result = read && write ? fsConstants.O_RDWR : write ? fsConstants.O_WRONLY : fsConstants.O_RDONLY;
  if (flags & OPEN_MODE.APPEND) result |= fsConstants.O_APPEND;
  if (flags & OPEN_MODE.CREAT) result |= fsConstants.O_CREAT;
  if (flags & OPEN_MODE.TRUNC) result |= fsConstants.O_TRUNC;
  if (flags & OPEN_MODE.EXCL) result |= fsConstants.O_EXCL;
  return result;
}

function readSshStrings(data: Buffer | undefined, count: number): Array<string | undefined> {
  const values: Array<string | undefined> = [];
  let offset = 0;
  for (let index = 0; index < count; index++) {
    if (data === undefined || offset + 4 > data.length) {
      values.push(undefined);
      continue;
    }
    const length = data.readUInt32BE(offset);
    offset += 4;
    if (offset + length > data.length) {
      values.push(undefined);
      continue;
    }
    values.push(data.toString('utf8', offset, offset + length));
    offset += length;
  }
  return values;
}

function toStatus(error: unknown): { code: number; message: string } {
  if (error instanceof SftpError) return { code: error.code, message: error.message };
  const errno = error as NodeJS.ErrnoException;
  switch (errno.code) {
    case 'ENOENT':
      return { code: STATUS_CODE.NO_SUCH_FILE, message: 'No such file' };
    case 'EACCES':
    case 'EPERM':
      return { code: STATUS_CODE.PERMISSION_DENIED, message: 'Permission denied' };
    default:
      return { code: STATUS_CODE.FAILURE, message: errno.message ?? String(error) };
  }
}
