/**
 * The report content while it is still being rendered (issue 11): `open()` gives a branch of the
 * capture's FanOut, and the size, hash and row count become known when the capture has committed
 * (the branch ends only then). Consumers written for stored content (SFTP delivery, S3 staging)
 * work unchanged as long as they read the size and hash after the end of the stream; one that asks
 * earlier, or opens too late, gets ContentPending and the run falls back to the stored copy.
 *
 * Self-verifying: the branch carries the very buffers the capture hashed, in order, and ends only
 * after the capture committed; it fails at its end unless it carried exactly the captured number
 * of bytes, so a consumer need not hash them again.
 */
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import type { ReportContent } from '../ports.js';
import type { FanOut } from './fan-out.js';

/** The content is not rendered yet (its size and hash unknown) or its stream already started. */
export class ContentPending extends Error {
  constructor(what: string) {
    super(`the report is still being rendered: ${what}`);
    this.name = 'ContentPending';
  }
}

export interface Captured {
  rows: number;
  bytes: number;
  sha256: string;
}

export class LiveContent implements ReportContent {
  private captured: Captured | undefined;
  private done = false;
  readonly selfVerifying = true;

  constructor(private readonly fan: FanOut) {}

  get rows(): number {
    return this.known('its row count').rows;
  }
  get bytes(): number {
    return this.known('its size').bytes;
  }
  get sha256(): string {
    return this.known('its hash').sha256;
  }

  open(): Readable {
    if (this.done || !this.fan.open) throw new ContentPending('the stream has started without this consumer');
    this.done = true;
    const counted = new CountedBranch(() => this.captured?.bytes);
    const branch = this.fan.branch();
    branch.once('error', (error) => counted.destroy(error));
    counted.once('close', () => branch.destroy());
    return branch.pipe(counted);
  }

  /** The capture committed with these facts. */
  settle(captured: Captured): void {
    this.captured = captured;
  }

  /** The consumer finished or failed without opening: the render need not wait for it. */
  release(): void {
    if (this.done) return;
    this.done = true;
    this.fan.decline();
  }

  private known(what: string): Captured {
    if (!this.captured) throw new ContentPending(`${what} is not known yet`);
    return this.captured;
  }
}

/** Passes the branch on; fails at the end unless it carried exactly the captured byte count. */
class CountedBranch extends Transform {
  private seen = 0;

  constructor(private readonly expected: () => number | undefined) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.seen += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const expected = this.expected();
    callback(
      expected === this.seen
        ? null
        : new Error(
            `the render's branch carried ${this.seen} bytes; the capture holds ${expected ?? 'unknown'}`,
          ),
    );
  }
}
