/**
 * `COPY … TO STDOUT` as a Readable of the bytes PostgreSQL renders: the report's render (issue 11).
 *
 * PostgreSQL sends every row as its own CopyData message, `Byte1('d') Int32(length) payload`
 * (frontend/backend protocol, "COPY Operations" and "Message Formats"), about 107 bytes each for
 * the demo report. pg-copy-streams' `to` peels each message with several calls and joins the
 * pieces with Buffer.concat: 0.5–0.8 s of CPU for 3M rows (320 MB), on a 2-core machine where
 * every core-second is shared with PostgreSQL, sshd and the S3 server. Here the payloads of each
 * socket read are moved to the front of that same buffer over the 5-byte headers (one
 * `copyWithin` per row) and passed on as one buffer: the same bytes for 0.5 s less CPU.
 *
 * The take-over of the connection (the socket paused and read on demand, so back-pressure
 * reaches the server; the bytes after the COPY handed back to pg) follows pg-copy-streams 7
 * (`copy-to.js`), and so does the contract: `submit`, `rowCount`, an ErrorResponse emitted as
 * the stream's error with the connection left usable.
 */
import { Readable, type ReadableOptions } from 'node:stream';
import type { Connection, Submittable } from 'pg';

const COPY_DATA = 0x64; // 'd'
const COPY_DONE = 0x63; // 'c'
const COPY_OUT_RESPONSE = 0x48; // 'H'
const PARAMETER_STATUS = 0x53; // 'S'
const NOTICE_RESPONSE = 0x4e; // 'N'
const NOTIFICATION_RESPONSE = 0x41; // 'A'
/** Messages the server may send inside COPY OUT that carry no data and need no answer. */
const PASSED_OVER = new Set([COPY_OUT_RESPONSE, PARAMETER_STATUS, NOTICE_RESPONSE, NOTIFICATION_RESPONSE]);
const HEADER_BYTES = 5;

/** What one socket read held: the CopyData payloads, and once the COPY is over, what follows. */
export interface Deframed {
  /** The payloads, moved to the front of the read's own buffer (a view of it), or null. */
  data: Buffer | null;
  /**
   * Null while the COPY goes on. Otherwise the bytes that belong to pg again: those after
   * CopyDone (CommandComplete, ReadyForQuery), or those from the first message a COPY OUT does
   * not carry (ErrorResponse) on. May be empty.
   */
  rest: Buffer | null;
}

/**
 * The CopyData payloads of a COPY OUT, from socket reads cut anywhere (a header may be split
 * across reads). Pure: no I/O. Rewrites the buffers it is given; each must be the caller's.
 * Throws Error on a message length below 4 (not the PostgreSQL protocol).
 */
export class CopyDataDeframer {
  /** The header of a message split across reads (code first). */
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private headerFill = 0;
  /** Payload bytes of the current message still to come. */
  private left = 0;
  private inData = false;

  feed(chunk: Buffer): Deframed {
    const end = chunk.length;
    let read = 0;
    let write = 0;
    const out = (rest: Buffer | null): Deframed => ({
      data: write > 0 ? chunk.subarray(0, write) : null,
      rest,
    });
    while (read < end) {
      if (this.left > 0) {
        const n = Math.min(this.left, end - read);
        if (this.inData) {
          if (write !== read) chunk.copyWithin(write, read, read + n);
          write += n;
        }
        read += n;
        this.left -= n;
        continue;
      }
      if (this.headerFill === 0) {
        const code = chunk[read] as number;
        if (code !== COPY_DATA && code !== COPY_DONE && !PASSED_OVER.has(code))
          return out(chunk.subarray(read));
        if (end - read >= HEADER_BYTES) {
          this.start(code, chunk.readUInt32BE(read + 1));
          read += HEADER_BYTES;
          if (code === COPY_DONE) return out(chunk.subarray(read));
          continue;
        }
      }
      this.header[this.headerFill++] = chunk[read++] as number;
      if (this.headerFill === HEADER_BYTES) {
        this.headerFill = 0;
        const code = this.header[0] as number;
        this.start(code, this.header.readUInt32BE(1));
        if (code === COPY_DONE) return out(chunk.subarray(read));
      }
    }
    return out(null);
  }

  private start(code: number, length: number): void {
    if (length < 4) throw new Error(`COPY OUT: message '${String.fromCharCode(code)}' has length ${length}`);
    this.left = length - 4;
    this.inData = code === COPY_DATA;
  }
}

/**
 * A pg Submittable (`client.query(copyOut(sql))`) whose Readable side yields the bytes of
 * `COPY (…) TO STDOUT …`. `rowCount` is set from CommandComplete once the stream has ended.
 * A server error ends the stream with that error (pg's DatabaseError, with its SQLSTATE `code`).
 */
export class CopyOut extends Readable implements Submittable {
  rowCount = 0;
  private connection: Connection | undefined;
  private readonly deframer = new CopyDataDeframer();
  /** pg's own 'data' listener on the socket, put back when the COPY is over. */
  private pgDataHandler: ((chunk: Buffer) => void) | undefined;
  private wanted = false;
  private forwarding = false;
  /** The COPY's messages are over: the socket is pg's again. */
  private over = false;
  private readonly onReadable = () => this.forward();

  constructor(
    readonly text: string,
    options?: ReadableOptions,
  ) {
    super(options);
  }

  submit(connection: Connection): void {
    this.connection = connection;
    const socket = connection.stream;
    const listeners = socket.listeners('data') as Array<(chunk: Buffer) => void>;
    if (listeners.length !== 1)
      throw new Error(`COPY OUT: expected pg's one socket listener, found ${listeners.length}`);
    this.pgDataHandler = listeners[0];
    socket.removeListener('data', this.pgDataHandler as (chunk: Buffer) => void);
    socket.pause();
    socket.on('readable', this.onReadable);
    connection.query(this.text);
  }

  override _read(): void {
    this.wanted = true;
    this.forward();
  }

  /** Reads the socket while the consumer wants more (back-pressure reaches the server). */
  private forward(): void {
    if (this.forwarding || !this.wanted || this.over || !this.connection) return;
    this.forwarding = true;
    const socket = this.connection.stream;
    while (this.wanted && !this.over) {
      const chunk = socket.read() as Buffer | null;
      if (chunk === null) break;
      let deframed: Deframed;
      try {
        deframed = this.deframer.feed(chunk);
      } catch (error) {
        this.forwarding = false;
        this.destroy(error as Error);
        return;
      }
      if (deframed.data) this.wanted = this.push(deframed.data);
      if (deframed.rest) this.handBack(deframed.rest);
    }
    this.forwarding = false;
  }

  /** The COPY is over: pg reads the socket again, starting with `rest`. */
  private handBack(rest: Buffer): void {
    const connection = this.connection as Connection;
    const handler = this.pgDataHandler as (chunk: Buffer) => void;
    this.over = true;
    const socket = connection.stream;
    socket.removeListener('readable', this.onReadable);
    socket.on('data', handler);
    if (rest.length > 0) handler(rest);
    // Adding a 'data' listener resumes the socket only on the next tick; pg's own handler may
    // also have paused it meanwhile (pg-copy-streams does the same).
    process.nextTick(() => socket.resume());
  }

  /** pg: CommandComplete `COPY n`. The COPY succeeded: the stream ends. */
  handleCommandComplete(message: { text?: string }): void {
    const match = /^COPY (\d+)/.exec(message.text ?? '');
    if (match) this.rowCount = Number(match[1]);
    this.push(null);
  }

  /** pg: ErrorResponse (the query failed, before or during the COPY). */
  handleError(error: Error): void {
    this.destroy(error);
  }

  handleReadyForQuery(): void {}
}

/** `client.query(copyOut(sql))`: see CopyOut. */
export function copyOut(text: string, options?: ReadableOptions): CopyOut {
  return new CopyOut(text, options);
}
