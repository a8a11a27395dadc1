/**
 * Reads a remote file back and hashes it, to tell our own earlier delivery (a crash between
 * the rename and recording the event) from someone else's file.
 */
import { createHash } from 'node:crypto';
import type { RemoteFs } from './remote-fs.js';

export interface RemoteDigest {
  bytes: number;
  sha256: string;
}

const BLOCK = 1024 * 1024;
const AHEAD = 4;

/** Fills a block, looping over short reads; shorter than `length` only at end of file. */
async function readBlock(remote: RemoteFs, handle: Buffer, path: string, position: number, length: number) {
  const buffer = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = await remote.read(handle, buffer, got, length - got, position + got, path);
    if (n === 0) break;
    got += n;
  }
  return buffer.subarray(0, got);
}

/** SHA-256 of the file's first `expectedBytes` bytes and anything after them, read a few blocks ahead. */
export async function hashRemoteFile(
  remote: RemoteFs,
  path: string,
  expectedBytes: number,
  signal?: AbortSignal,
): Promise<RemoteDigest> {
  const handle = await remote.openForReading(path);
  const hash = createHash('sha256');
  let bytes = 0;
  const ahead: { length: number; block: Promise<Buffer> }[] = [];
  let next = 0;
  const schedule = () => {
    while (ahead.length < AHEAD && next < expectedBytes) {
      const length = Math.min(BLOCK, expectedBytes - next);
      ahead.push({ length, block: readBlock(remote, handle, path, next, length) });
      next += length;
    }
  };
  try {
    schedule();
    while (ahead.length > 0) {
      signal?.throwIfAborted();
      const { length, block } = ahead.shift() as (typeof ahead)[number];
      const data = await block;
      hash.update(data);
      bytes += data.length;
      // Short means end of file: the blocks read ahead of it are beyond it.
      if (data.length < length) break;
      schedule();
    }
    // The file may have grown since it was stat'ed: count (and hash) what follows too.
    for (;;) {
      const tail = await readBlock(remote, handle, path, bytes, BLOCK);
      if (tail.length === 0) break;
      hash.update(tail);
      bytes += tail.length;
    }
  } finally {
    await Promise.allSettled(ahead.map((entry) => entry.block));
    await remote.closeQuietly(handle, path);
  }
  return { bytes, sha256: hash.digest('hex') };
}
