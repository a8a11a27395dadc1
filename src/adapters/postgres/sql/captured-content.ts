/**
 * The captured CSV bytes of a process, in numbered chunks (migration 0007). Written with one
 * `COPY … FROM STDIN (FORMAT binary)` and read back with one short `COPY … TO STDOUT (FORMAT
 * binary)` per batch of chunks: bytea travels as raw bytes both ways (no hex text), and no
 * statement stays open across a slow network transfer.
 */
import { Transform, type TransformCallback } from 'node:stream';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';

/**
 * Bytes per stored chunk: one chunk fills one 8 KiB heap page (tuple header, process_id, chunk_no
 * and the bytea header take the rest), stored inline (STORAGE PLAIN) with no TOAST round trip.
 */
export const CHUNK_BYTES = 8000;

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const FILE_HEADER = Buffer.concat([SIGNATURE, Buffer.alloc(8)]); // flags 0, no header extension
const TRAILER = Buffer.from([0xff, 0xff]);

const PROCESS_SETTING = 'eod_report.content_process';
const FROM_SETTING = 'eod_report.content_from';
const TO_SETTING = 'eod_report.content_to';

/** The COPY that stores chunks; the caller's transaction decides whether they persist. */
export function copyChunksIn(client: pg.ClientBase) {
  return client.query(
    copyFrom('COPY end_of_day_reporting_content (process_id, chunk_no, data) FROM STDIN (FORMAT binary)'),
  );
}

/** Bytes of framed tuples gathered before they are passed on as one buffer. */
const BATCH_BYTES = 256 * 1024;
const TUPLE_HEAD = 2 + 4 + 8 + 4 + 4 + 4;

/**
 * Cuts a byte stream into chunks of `chunkBytes` and frames each as a binary COPY tuple
 * (process_id, chunk_no, data), copied into batches of about 256 KiB. pg-copy-streams writes
 * every buffer it is given to the socket as its own CopyData message (two writes each): framing
 * 8 kB tuples one by one cost two thirds of a core in syscalls for a 320 MB report (issue 11);
 * one copy of the bytes costs a few percent of that. Holds at most one batch.
 */
export class ChunkTuples extends Transform {
  private batch: Buffer;
  private used: number;
  /** Start of the current tuple's data length field, or -1 when no tuple is open. */
  private lengthAt = -1;
  private dataBytes = 0;
  /** Chunks emitted so far (also the next chunk number). */
  chunks = 0;

  constructor(
    private readonly processId: string,
    private readonly chunkBytes: number = CHUNK_BYTES,
  ) {
    super({ readableHighWaterMark: BATCH_BYTES });
    this.batch = Buffer.allocUnsafe(BATCH_BYTES + TUPLE_HEAD + chunkBytes);
    this.used = FILE_HEADER.copy(this.batch, 0);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.lengthAt < 0) this.openTuple();
      const take = Math.min(this.chunkBytes - this.dataBytes, chunk.length - at);
      chunk.copy(this.batch, this.used, at, at + take);
      this.used += take;
      this.dataBytes += take;
      at += take;
      if (this.dataBytes === this.chunkBytes) this.closeTuple();
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.lengthAt >= 0) this.closeTuple();
    if (this.used + TRAILER.length > this.batch.length) this.pushBatch();
    this.used += TRAILER.copy(this.batch, this.used);
    this.pushBatch();
    callback();
  }

  private openTuple(): void {
    const b = this.batch;
    let at = this.used;
    at = b.writeInt16BE(3, at);
    at = b.writeInt32BE(8, at);
    at = b.writeBigInt64BE(BigInt(this.processId), at);
    at = b.writeInt32BE(4, at);
    at = b.writeInt32BE(this.chunks, at);
    this.lengthAt = at;
    this.used = at + 4;
    this.dataBytes = 0;
  }

  private closeTuple(): void {
    this.batch.writeInt32BE(this.dataBytes, this.lengthAt);
    this.lengthAt = -1;
    this.chunks++;
    if (this.used >= BATCH_BYTES) this.pushBatch();
  }

  private pushBatch(): void {
    if (this.used === 0) return;
    // The batch is handed over whole, so the next one needs a buffer of its own.
    this.push(this.batch.subarray(0, this.used));
    this.batch = Buffer.allocUnsafe(BATCH_BYTES + TUPLE_HEAD + this.chunkBytes);
    this.used = 0;
  }
}

/**
 * The data of chunks [from, to) of a process, in order, as raw bytes; also counts the chunks
 * seen (`chunksSeen()`) so the caller can tell a gap. Runs in the client's open transaction.
 */
export async function copyChunksOut(
  client: pg.ClientBase,
  processId: string,
  from: number,
  to: number,
): Promise<{ stream: NodeJS.ReadableStream; chunksSeen: () => number }> {
  await client.query('SELECT set_config($1, $2, true), set_config($3, $4, true), set_config($5, $6, true)', [
    PROCESS_SETTING,
    processId,
    FROM_SETTING,
    String(from),
    TO_SETTING,
    String(to),
  ]);
  const copy = client.query(
    copyTo(
      `COPY (SELECT data FROM end_of_day_reporting_content
             WHERE process_id = current_setting('${PROCESS_SETTING}')::bigint
               AND chunk_no >= current_setting('${FROM_SETTING}')::integer
               AND chunk_no < current_setting('${TO_SETTING}')::integer
             ORDER BY chunk_no) TO STDOUT (FORMAT binary)`,
    ),
  );
  const unframe = new UnframeSingleColumn();
  copy.on('error', (error) => unframe.destroy(error));
  return { stream: copy.pipe(unframe), chunksSeen: () => unframe.tuples };
}

/** Parses a binary COPY stream of one non-null bytea column into the column's bytes. */
class UnframeSingleColumn extends Transform {
  private small = Buffer.alloc(0);
  /** What the parser needs next. */
  private state: 'header' | 'count' | 'length' | 'data' | 'done' = 'header';
  private dataLeft = 0;
  tuples = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let buf = this.small.length > 0 ? Buffer.concat([this.small, chunk]) : chunk;
    this.small = Buffer.alloc(0);
    try {
      for (;;) {
        if (this.state === 'data') {
          if (buf.length === 0) break;
          const take = Math.min(this.dataLeft, buf.length);
          this.push(buf.subarray(0, take));
          this.dataLeft -= take;
          buf = buf.subarray(take);
          if (this.dataLeft === 0) this.state = 'count';
          continue;
        }
        const need = this.state === 'header' ? FILE_HEADER.length : this.state === 'count' ? 2 : 4;
        if (this.state === 'done' || buf.length < need) break;
        if (this.state === 'header') {
          if (!buf.subarray(0, SIGNATURE.length).equals(SIGNATURE))
            throw new Error('not a binary COPY stream');
          const extension = buf.readInt32BE(15);
          if (extension !== 0) throw new Error('binary COPY header extension not supported');
          this.state = 'count';
        } else if (this.state === 'count') {
          const fields = buf.readInt16BE(0);
          if (fields === -1) this.state = 'done';
          else if (fields !== 1) throw new Error(`binary COPY tuple has ${fields} fields, expected 1`);
          else this.state = 'length';
        } else {
          const length = buf.readInt32BE(0);
          if (length < 0) throw new Error('captured chunk is NULL');
          this.tuples++;
          this.dataLeft = length;
          this.state = length === 0 ? 'count' : 'data';
        }
        buf = buf.subarray(need);
      }
      if (buf.length > 0 && this.state !== 'done') this.small = Buffer.from(buf);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    callback(this.state === 'done' ? null : new Error('binary COPY stream ended early'));
  }
}

/** Retention: removes the stored chunks of a process (in the caller's transaction). */
export async function deleteChunks(client: pg.ClientBase, processId: string): Promise<number> {
  const { rowCount } = await client.query('DELETE FROM end_of_day_reporting_content WHERE process_id = $1', [
    processId,
  ]);
  return rowCount ?? 0;
}

/** Stored chunks of a process, or null when the content table itself is gone. */
export async function countChunks(db: pg.ClientBase | pg.Pool, processId: string): Promise<number | null> {
  try {
    const { rows } = await db.query<{ n: string }>(
      'SELECT count(*) AS n FROM end_of_day_reporting_content WHERE process_id = $1',
      [processId],
    );
    return Number(rows[0]?.n ?? 0);
  } catch (error) {
    if ((error as { code?: string }).code === '42P01') return null;
    throw error;
  }
}
