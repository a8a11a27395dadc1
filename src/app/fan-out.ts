/**
 * One rendered stream, several consumers (issue 11: render once per attempt, feed the durable
 * capture, the SFTP upload and the S3 parts from the same bytes). A FanOut is a pass-through
 * Transform placed in the capture's pipeline; each `branch()` is a Readable that sees every byte
 * from the start. Back-pressure: a chunk is passed on only once every live branch has room, so the
 * slowest consumer paces the render and memory stays at a few buffers per branch. A branch whose
 * consumer stops (destroyed or errored) is dropped and never holds the others back.
 *
 * Event 'first-byte': the render produced its first bytes (the query was accepted); consumers
 * are best started then, so a refused query leaves nothing behind on the servers.
 *
 * Branches do not end when the render ends: `finish()` ends them (the caller does so once the
 * capture is committed, so a consumer that sees the end knows the bytes are durable), `fail(e)`
 * errors them.
 */
import { PassThrough, type Readable, Transform, type TransformCallback } from 'node:stream';

const BRANCH_BUFFER = 512 * 1024;

export class FanOut extends Transform {
  private readonly branches = new Set<PassThrough>();
  private started = false;
  private announced = false;
  private expected: number;
  private readonly gate: Promise<void>;
  private readonly gateMs: number;
  private openGate: () => void = () => undefined;

  /**
   * `consumers`: how many consumers will each call `branch()` or `decline()`; the first byte is
   * held until all have (or `gateMs` passed since it arrived), so none misses the start. A consumer
   * that is later than that gets no branch (`branch()` throws) and must read the stored copy.
   */
  constructor(consumers = 0, gateMs = 10_000) {
    super({ highWaterMark: BRANCH_BUFFER });
    this.expected = consumers;
    this.gate = new Promise<void>((resolve) => {
      this.openGate = resolve;
    });
    this.gateMs = gateMs;
    if (consumers === 0) this.openGate();
  }

  /** A consumer that will not take a branch after all. */
  decline(): void {
    this.arrive();
  }

  private arrive(): void {
    this.expected--;
    if (this.expected <= 0) this.openGate();
  }

  /** A new consumer of the stream; only before the first byte passed (else it would miss some). */
  branch(): Readable {
    if (this.started) throw new Error('FanOut.branch() after the stream started');
    this.arrive();
    const branch = new PassThrough({ highWaterMark: BRANCH_BUFFER });
    branch.once('close', () => this.branches.delete(branch));
    this.branches.add(branch);
    return branch;
  }

  /** True until the first byte passed: branches can still be added. */
  get open(): boolean {
    return !this.started;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.started) {
      void this.pass(chunk, callback);
      return;
    }
    if (!this.announced) {
      this.announced = true;
      setTimeout(() => this.openGate(), this.gateMs).unref();
      this.emit('first-byte');
    }
    void this.gate.then(() => this.pass(chunk, callback));
  }

  private async pass(chunk: Buffer, callback: TransformCallback): Promise<void> {
    this.started = true;
    const full: Promise<void>[] = [];
    for (const branch of this.branches) {
      if (branch.destroyed || branch.writableEnded) continue;
      if (!branch.write(chunk)) full.push(roomIn(branch));
    }
    // A branch that is destroyed while we wait resolves too (it no longer counts).
    if (full.length > 0) await Promise.all(full);
    callback(null, chunk);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // The capture pipeline failed or was aborted: consumers must not wait for an end.
    if (error) this.fail(error);
    callback(error);
  }

  /** Ends every branch (the bytes are complete and durable). */
  finish(): void {
    this.started = true;
    for (const branch of this.branches) if (!branch.destroyed) branch.end();
  }

  /** Errors every branch. */
  fail(error: Error): void {
    this.started = true;
    for (const branch of [...this.branches]) branch.destroy(error);
  }
}

/** Resolves when the branch has room again, or is gone. */
function roomIn(branch: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      branch.off('drain', done);
      branch.off('close', done);
      resolve();
    };
    branch.on('drain', done);
    branch.on('close', done);
  });
}
