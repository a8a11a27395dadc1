/**
 * Submission to the regulator's SFTP server (PRODUCT.md §3 step 4, §3.1, §3.2): upload to a
 * temporary name unique to the lock acquisition (`<name>.<token>.part`), verify, then rename into place — adapting to what the server can do (capabilities.ts)
 * and to the config (atomicity, verify, fileMode, tempDirectory, maxInFlight). The final name
 * only ever holds a complete file (except with `atomicity: direct`), and an existing final file
 * is never overwritten. The choices made are logged once per connection and returned as proof.
 */
import type { Readable } from 'node:stream';
import type { SftpConfig } from '../../config/schema.js';
import { EodError, isEodError, isRetryable } from '../../core/errors.js';
import type { FormerTemporaries } from '../../core/journal.js';
import type {
  DeliveryOptions,
  DeliveryProof,
  DeliveryReceipt,
  DeliveryTarget,
  ProbeResult,
  ReportContent,
} from '../../ports.js';
import {
  capabilitiesOf,
  type DeliveryPlan,
  describePlan,
  formatMode,
  planDelivery,
  type RenameMethod,
  type ServerCapabilities,
} from './capabilities.js';
import { type ConnectOptions, connectSftp, type SftpSession } from './connect.js';
import { applyMode, type CreateMethod, createUploadFile } from './create-file.js';
import { type ProbeReport, probeServer } from './probe.js';
import { isNoSuchFile, isRefusal, RemoteFs, sftpStatusOf } from './remote-fs.js';
import { renameIntoPlace } from './rename.js';
import { type UploadOptions, uploadStream } from './upload.js';
import { checkUpload, examineExisting, type FinalState, type UploadCheck } from './verify.js';

/** Crash-test hook: awaited at named points; it may throw or kill the process. */
export type Failpoint = (name: string) => Promise<void> | void;

export const SFTP_FAILPOINTS = [
  'sftp.mid-upload',
  'sftp.after-part-upload',
  'sftp.before-rename',
  'sftp.after-lock-check',
  'sftp.after-rename',
] as const;

/** Where the adapter says what it decided (pino's call shape). */
export interface DeliveryLog {
  info(facts: Record<string, unknown>, message: string): void;
  warn(facts: Record<string, unknown>, message: string): void;
}

/** SSH_FX_FAILURE: some servers answer a READ they will not allow with it. */
const FAILURE = 4;

const silent: DeliveryLog = { info: () => undefined, warn: () => undefined };

export interface SftpDeliveryOptions {
  failpoint?: Failpoint;
  connect?: ConnectOptions;
  upload?: Pick<UploadOptions, 'writeSize' | 'maxInFlight'>;
  log?: DeliveryLog;
}

/**
 * The final path and our temporary path for it, in `tempDirectory` (default: the final file's
 * directory). With a token (the lock acquisition's) the temporary name is
 * `<fileName>.<token>.part`, so two holders never share one. `directory` is where the temporary
 * files live.
 * Throws: EodError CONFIG_INVALID when `fileName` is not a plain file name.
 */
export function remotePaths(
  directory: string,
  fileName: string,
  token?: string,
  tempDirectory: string = directory,
): { final: string; part: string; directory: string } {
  if (fileName === '' || fileName === '.' || fileName === '..' || fileName.includes('/')) {
    throw new EodError('CONFIG_INVALID', `"${fileName}" is not a plain file name`, { fileName });
  }
  if (token !== undefined && !/^[0-9]+$/.test(token)) {
    throw new EodError('STEP_FAILED', `lock token "${token}" is not a decimal number`, { token });
  }
  const final = `${directory.replace(/\/+$/, '')}/${fileName}`;
  const temp = tempDirectory.replace(/\/+$/, '');
  const base = `${temp}/${fileName}`;
  return {
    final,
    part: token === undefined ? `${base}.part` : `${base}.${token}.part`,
    directory: temp || '/',
  };
}

/** Whether `name` (in the temporary files' directory) is one of our temporary files for `fileName`:
 * `<fileName>.part` (older releases) or `<fileName>.<digits>.part`, nothing else. */
export function isOurTemporary(name: string, fileName: string): boolean {
  if (!name.startsWith(fileName) || !name.endsWith('.part') || name.length < fileName.length + 5)
    return false;
  const middle = name.slice(fileName.length, -'.part'.length);
  return middle === '' || /^\.[0-9]+$/.test(middle);
}

interface Uploaded {
  create: CreateMethod;
  acknowledgedBytes: number;
  writes: 'pipelined' | 'in-order';
  writeLength: number;
  maxInFlight: number;
}

export class SftpDelivery implements DeliveryTarget {
  private readonly sessions = new Set<SftpSession>();
  private warming: Promise<SftpSession | undefined> | undefined;
  private readonly failpoint: Failpoint;
  private readonly options: SftpDeliveryOptions;
  private readonly log: DeliveryLog;

  private readonly config: SftpConfig;

  constructor(config: SftpConfig, failpointOrOptions?: Failpoint | SftpDeliveryOptions) {
    // The schema fills these in; a config built in code may leave them out: same defaults.
    this.config = {
      ...config,
      fileMode: config.fileMode === undefined ? 0o640 : config.fileMode,
      verify: config.verify ?? 'readback',
      atomicity: config.atomicity ?? 'rename',
    };
    this.options =
      typeof failpointOrOptions === 'function'
        ? { failpoint: failpointOrOptions }
        : (failpointOrOptions ?? {});
    this.failpoint = this.options.failpoint ?? (() => {});
    this.log = this.options.log ?? silent;
  }

  async deliver(
    fileName: string,
    content: ReportContent,
    options: DeliveryOptions = {},
  ): Promise<DeliveryReceipt> {
    const { signal, beforeRename, token, former } = options;
    const { final, part, directory } = remotePaths(
      this.config.directory,
      fileName,
      token,
      this.config.tempDirectory,
    );
    return this.withSession(signal, async (remote) => {
      const capabilities = capabilitiesOf(remote);
      const plan = planDelivery(this.config, capabilities, this.options.upload);
      this.logPlan(remote, capabilities, plan);
      const proof: DeliveryProof = { ...describePlan(plan), notes: [] };
      const receipt = (alreadyPresent: boolean): DeliveryReceipt => ({
        remotePath: final,
        bytes: content.bytes,
        sha256: content.sha256,
        alreadyPresent,
        proof,
      });

      const before = await examineExisting(remote, final, content, plan.verify, signal);
      if (before.kind === 'ours') {
        // Delivered by an earlier attempt that stopped before recording it; a completed delivery
        // leaves no temporary file of ours.
        proof.provenBy = before.provenBy;
        if (plan.rename !== 'direct') await this.removeOurTemporaries(remote, directory, fileName, part);
        await this.removeFormerTemporaries(remote, directory, former);
        return receipt(true);
      }
      const rename = renameFor(plan.rename, before, proof);

      if (rename === 'direct') {
        // No temporary name: the final name is created exclusively, so an existing file (even one
        // we could not see) is never overwritten.
        const uploaded = await this.upload(remote, final, content, plan, false, signal);
        await this.failpoint('sftp.after-part-upload');
        this.recordUpload(
          remote,
          plan,
          proof,
          uploaded,
          await this.checkClosed(remote, final, content, uploaded, plan),
        );
        return receipt(false);
      }

      // Leftovers of interrupted attempts (ours, or an earlier holder's: only names of the
      // pattern). Removing (rather than truncating) lets the exclusive create below set the
      // mode, so the file is never readable more widely.
      await this.removeOurTemporaries(remote, directory, fileName, part);
      await this.removeFormerTemporaries(remote, directory, former);
      const uploaded = await this.upload(remote, part, content, plan, true, signal);
      await this.failpoint('sftp.after-part-upload');
      const checked = await this.checkClosed(remote, part, content, uploaded, plan);

      signal?.throwIfAborted();
      // The final name may have appeared while we uploaded; never rename over it.
      const now = await examineExisting(remote, final, content, plan.verify, signal);
      if (now.kind === 'ours') {
        proof.provenBy = now.provenBy;
        await remote.unlinkIfExists(part);
        return receipt(true);
      }
      await this.failpoint('sftp.before-rename');
      // Last word for the caller (renew the lock, record the intent), as late as possible.
      await beforeRename?.({ temporaryPath: part, finalPath: final });
      await this.failpoint('sftp.after-lock-check');
      signal?.throwIfAborted();
      try {
        await renameIntoPlace(remote, rename, part, final);
      } catch (error) {
        // Plain RENAME refuses an existing target: say whose file it is, never overwrite it.
        if (rename === 'rename' && sftpStatusOf(error) !== undefined) {
          const state = await examineExisting(remote, final, content, plan.verify, signal).catch(
            (lookError: unknown) => {
              if (isEodError(lookError, 'REMOTE_CONFLICT')) throw lookError;
              return undefined;
            },
          );
          if (state?.kind === 'ours') {
            proof.provenBy = state.provenBy;
            await remote.unlinkIfExists(part);
            return receipt(true);
          }
        }
        // A refusal stays a refusal: leave no temporary file for nobody to replace.
        if (!isRetryable(error)) await remote.unlinkIfExists(part).catch(() => false);
        throw error;
      }
      await this.failpoint('sftp.after-rename');
      // From here the file is delivered: an acknowledged rename is a submission (PRODUCT.md
      // §3.1). What a look afterwards finds is a note in the proof, never a failure.
      this.recordUpload(remote, plan, proof, uploaded, checked);
      return {
        ...receipt(false),
        temporaryPath: part,
        ...(await this.lookAfterRename(remote, final, content, plan)),
      };
    });
  }

  /** Compatibility of this server with the configured delivery, from a probe (`eod-report check`). */
  async compatibility(): Promise<ProbeReport> {
    return this.withSession(undefined, async (remote, session) => probeServer(remote, session, this.config));
  }

  async probe(
    fileName: string,
    content: ReportContent,
    temporaryPath: string,
    signal?: AbortSignal,
  ): Promise<ProbeResult> {
    const { final } = remotePaths(this.config.directory, fileName);
    return this.withSession(signal, async (remote) => {
      let state: ProbeResult['final'];
      let detail: string | undefined;
      try {
        const found = await examineExisting(remote, final, content, this.config.verify, signal);
        if (found.kind === 'unknown') {
          state = 'unreadable';
          detail = found.why;
        } else state = found.kind;
      } catch (error) {
        if (isEodError(error, 'REMOTE_CONFLICT')) throw error;
        if (isNoSuchFile(error)) state = 'absent';
        else if (isRefusal(error) || sftpStatusOf(error) === FAILURE) {
          state = 'unreadable';
          detail = (error as Error).message;
        } else throw error;
      }
      const temporary = (await remote.statIfExists(temporaryPath)) === undefined ? 'absent' : 'present';
      return { finalPath: final, final: state, temporary, ...(detail === undefined ? {} : { detail }) };
    });
  }

  /** Removes `<fileName>.part` and `<fileName>.<digits>.part` from the directory, and `own`. */
  private async removeOurTemporaries(
    remote: RemoteFs,
    directory: string,
    fileName: string,
    own: string | undefined,
  ) {
    let names: string[];
    try {
      names = await remote.list(directory);
    } catch (error) {
      // An inbox that cannot be listed: remove what we can name.
      if (sftpStatusOf(error) === undefined) throw error;
      names = [`${fileName}.part`];
    }
    const paths = new Set(
      names
        .filter((name) => isOurTemporary(name, fileName))
        .map((n) => `${directory.replace(/\/$/, '')}/${n}`),
    );
    if (own !== undefined) paths.add(own);
    for (const path of paths) await remote.unlinkIfExists(path);
  }

  /**
   * Temporary files of names no longer in force (DeliveryOptions.former): the recorded paths, and
   * our patterns of each former file name in its directory and in today's temporary directory.
   */
  private async removeFormerTemporaries(remote: RemoteFs, directory: string, former?: FormerTemporaries) {
    if (!former) return;
    // Tidying only: a server that refuses (a directory of an earlier config that is gone or not
    // ours to list) leaves a leftover, never a failed delivery.
    const tidy = async (work: () => Promise<unknown>) => {
      try {
        await work();
      } catch (error) {
        if (sftpStatusOf(error) === undefined) throw error;
        this.log.warn(
          { event: 'sftp.former-temporary', endpoint: remote.endpoint, error: (error as Error).message },
          `SFTP ${remote.endpoint}: a temporary file of an earlier name may be left: ${(error as Error).message}`,
        );
      }
    };
    for (const path of former.temporaryPaths) await tidy(() => remote.unlinkIfExists(path));
    for (const { directory: formerDirectory, fileName } of former.fileNames) {
      for (const where of new Set([formerDirectory, directory]))
        await tidy(() => this.removeOurTemporaries(remote, where, fileName, undefined));
    }
  }

  async check(): Promise<string> {
    const report = await this.compatibility();
    if (!report.ok) {
      throw new EodError('STEP_FAILED', report.lines.join('\n'), { endpoint: report.endpoint });
    }
    return report.lines.join('\n');
  }

  /** See DeliveryTarget.warm: one session, connected ahead, for the next deliver or probe. */
  warm(signal?: AbortSignal): void {
    if (this.warming) return;
    const warming: Promise<SftpSession | undefined> = connectSftp(this.config, {
      ...this.options.connect,
      ...(signal ? { signal } : {}),
    }).then(
      (session) => {
        this.sessions.add(session);
        // A session the server closes while it waits is not handed out.
        session.client.once('close', () => {
          if (this.warming === warming) this.warming = undefined;
          this.sessions.delete(session);
        });
        return session;
      },
      () => undefined,
    );
    this.warming = warming;
  }

  async close(): Promise<void> {
    const warmed = await this.takeWarmed();
    await warmed?.end();
    await Promise.all([...this.sessions].map((session) => session.end()));
    this.sessions.clear();
  }

  /** The warmed-up session, if there is one and it is still open. */
  private async takeWarmed(): Promise<SftpSession | undefined> {
    const warming = this.warming;
    this.warming = undefined;
    return warming ? await warming : undefined;
  }

  /** One connection per call: nothing to keep alive between nightly runs, nothing stale. */
  private async withSession<T>(
    signal: AbortSignal | undefined,
    work: (remote: RemoteFs, session: SftpSession) => Promise<T>,
  ): Promise<T> {
    const session =
      (await this.takeWarmed()) ?? (await connectSftp(this.config, { ...this.options.connect, signal }));
    this.sessions.add(session);
    // An abort (the no-progress watchdog, a lost lease, shutdown) ends the session at once: requests
    // waiting on a frozen server fail now instead of at their own request timeout, and nothing
    // more is done in the session. An act already sent is settled by the journal's intent.
    const drop = () => session.client.destroy();
    signal?.addEventListener('abort', drop, { once: true });
    try {
      if (signal?.aborted) drop();
      return await work(
        new RemoteFs(session.sftp, session.endpoint, this.config.requestTimeout, session.socket),
        session,
      );
    } finally {
      signal?.removeEventListener('abort', drop);
      this.sessions.delete(session);
      await session.end();
    }
  }

  private logPlan(remote: RemoteFs, capabilities: ServerCapabilities, plan: DeliveryPlan): void {
    this.log.info(
      {
        event: 'sftp.plan',
        endpoint: remote.endpoint,
        extensions: capabilities.extensions,
        ...describePlan(plan),
      },
      `SFTP ${remote.endpoint}: rename ${plan.rename}, verify ${plan.verify}, mode ${formatMode(plan.mode) ?? "server's default"}, ${plan.maxInFlight} writes of ${plan.writeLength} bytes in flight`,
    );
  }

  /**
   * Uploads `content` to `path`, created new, with the plan's writes; a server that refuses a
   * write gets the whole file again with the next fallback: shorter writes (a server that takes
   * no 256 KiB request), then writes in order (rclone without a write cache: "Illegal seek" on
   * out-of-order writes), unless maxInFlight was configured.
   */
  private async upload(
    remote: RemoteFs,
    path: string,
    content: ReportContent,
    plan: DeliveryPlan,
    temporary: boolean,
    signal: AbortSignal | undefined,
  ): Promise<Uploaded> {
    const ways = [{ writeLength: plan.writeLength, maxInFlight: plan.maxInFlight }, ...plan.fallbacks];
    for (let index = 0; ; index++) {
      const way = ways[index] as (typeof ways)[number];
      try {
        return await this.uploadOnce(remote, path, content, plan, way, temporary, signal);
      } catch (error) {
        const refusedWrite =
          error instanceof EodError && error.facts.operation === 'write' && sftpStatusOf(error) !== undefined;
        const next = ways[index + 1];
        if (!refusedWrite || next === undefined || signal?.aborted) {
          // No attempt will come soon to replace it: leave no empty temporary file behind.
          if (temporary && !isRetryable(error)) await remote.unlinkIfExists(path).catch(() => false);
          throw error;
        }
        this.log.warn(
          {
            event: 'sftp.write-fallback',
            endpoint: remote.endpoint,
            error: (error as Error).message,
            ...next,
          },
          `SFTP ${remote.endpoint} refused a write (${way.maxInFlight} of ${way.writeLength} bytes in flight); writing the file again with ${next.maxInFlight} of ${next.writeLength} bytes${next.maxInFlight === 1 ? ' (set reports[].sftp.maxInFlight: 1 for this server)' : ''}`,
        );
        // Ours alone: created by this attempt a moment ago.
        await remote.unlinkIfExists(path);
      }
    }
  }

  private async uploadOnce(
    remote: RemoteFs,
    path: string,
    content: ReportContent,
    plan: DeliveryPlan,
    way: { writeLength: number; maxInFlight: number },
    temporary: boolean,
    signal: AbortSignal | undefined,
  ): Promise<Uploaded> {
    const { writeLength, maxInFlight } = way;
    // ssh2 splits a longer write into requests sent one after another: tell it ours.
    remote.setWriteLength(writeLength);
    const { handle, create } = await createUploadFile(remote, path, plan.mode, temporary);
    let closed = false;
    let sourceFailed = false;
    try {
      if (plan.mode !== null) await applyMode(remote, handle, path, plan.mode);
      let source: Readable;
      try {
        source = content.open();
      } catch (error) {
        // The render failed (or moved on) before this consumer got its stream: the file created a
        // moment ago is empty and ours.
        sourceFailed = true;
        throw error;
      }
      source.once('error', () => {
        sourceFailed = true;
      });
      const written = await uploadStream(remote, handle, path, source, {
        writeSize: writeLength,
        maxInFlight,
        signal,
        afterFirstWrite: () => this.failpoint('sftp.mid-upload'),
        hash: content.selfVerifying !== true,
        // The server's disk catches up while we upload; the fsync below is what counts.
        flush: () => remote.fsyncIfSupported(handle, path),
      });
      if (written.bytes !== content.bytes || (written.sha256 !== null && written.sha256 !== content.sha256)) {
        throw new EodError(
          'CONTENT_MISMATCH',
          `report content for ${path} streamed ${written.bytes} bytes with sha256 ${written.sha256 ?? '(checked by the content)'}, expected ${content.bytes} bytes with ${content.sha256}`,
          { remotePath: path, ...written, expectedBytes: content.bytes, expectedSha256: content.sha256 },
        );
      }
      await remote.fsyncIfSupported(handle, path);
      closed = true;
      await remote.close(handle, path);
      return {
        create,
        acknowledgedBytes: written.bytes,
        writes: maxInFlight === 1 ? 'in-order' : 'pipelined',
        writeLength,
        maxInFlight,
      };
    } catch (error) {
      // Our content failed (a render cut off, the stored content gone) while the server still
      // answers: remove our temporary file now. After an abort (the lease may be someone else's
      // by now), a timeout or a crash, it stays and the next attempt removes it.
      if (temporary && sourceFailed && !signal?.aborted) {
        if (!closed) await remote.closeQuietly(handle, path);
        closed = true;
        await remote.unlinkIfExists(path).catch(() => false);
      }
      throw error;
    } finally {
      // On failure or abort the file stays; the next attempt removes it before uploading.
      if (!closed) await remote.closeQuietly(handle, path);
    }
  }

  /** The closed upload's check: STAT after close (an open handle may report size 0). */
  private checkClosed(
    remote: RemoteFs,
    path: string,
    content: ReportContent,
    uploaded: Uploaded,
    plan: DeliveryPlan,
  ): Promise<UploadCheck> {
    return checkUpload(
      remote,
      path,
      content,
      uploaded.acknowledgedBytes,
      plan.verify,
      plan.rename === 'direct',
    );
  }

  private recordUpload(
    remote: RemoteFs,
    plan: DeliveryPlan,
    proof: DeliveryProof,
    uploaded: Uploaded,
    checked: UploadCheck,
  ): void {
    proof.create = uploaded.create;
    proof.writes = uploaded.writes;
    proof.writeLength = uploaded.writeLength;
    proof.maxInFlight = uploaded.maxInFlight;
    proof.verifiedBy = checked.verifiedBy;
    proof.acknowledgedBytes = uploaded.acknowledgedBytes;
    if (checked.note) proof.notes.push(checked.note);
    if (checked.modeSeen !== undefined) proof.modeSeen = formatMode(checked.modeSeen);
    if (plan.mode !== null && checked.modeSeen !== undefined && checked.modeSeen !== plan.mode) {
      const note = `the server reports mode ${formatMode(checked.modeSeen)}, not the requested ${formatMode(plan.mode)}`;
      proof.notes.push(note);
      this.log.warn(
        {
          event: 'sftp.mode-ignored',
          endpoint: remote.endpoint,
          requested: formatMode(plan.mode),
          seen: formatMode(checked.modeSeen),
        },
        `SFTP ${remote.endpoint}: ${note}`,
      );
    }
  }

  /**
   * The server acknowledged the rename: that is the submission (PRODUCT.md §3.1). What a later
   * look finds (an inbox may take the file at once) is a note in the proof, never a failure.
   */
  private async lookAfterRename(
    remote: RemoteFs,
    final: string,
    content: ReportContent,
    plan: DeliveryPlan,
  ): Promise<Pick<DeliveryReceipt, 'verifiedAfterRename' | 'afterRenameNote'>> {
    if (plan.verify === 'none') {
      return { verifiedAfterRename: false, afterRenameNote: 'not looked at (verify none)' };
    }
    try {
      const delivered = await remote.statIfExists(final);
      if (delivered === undefined) {
        return {
          verifiedAfterRename: false,
          afterRenameNote: 'final file not found right after the acknowledged rename',
        };
      }
      if (typeof delivered.size === 'number' && delivered.size !== content.bytes) {
        this.log.warn(
          { event: 'sftp.after-rename-size', remotePath: final, remoteBytes: delivered.size },
          `SFTP ${final} shows ${delivered.size} bytes right after the rename, expected ${content.bytes}`,
        );
        return {
          verifiedAfterRename: false,
          afterRenameNote: `final file has ${delivered.size} bytes right after the acknowledged rename, expected ${content.bytes}`,
        };
      }
    } catch (error) {
      return {
        verifiedAfterRename: false,
        afterRenameNote: `stat after the acknowledged rename failed: ${(error as Error).message}`,
      };
    }
    return { verifiedAfterRename: true };
  }
}

/**
 * The rename for this delivery. posix-rename replaces an existing target, so where the final
 * name could not be looked at (upload-only inbox) plain RENAME is used: most servers refuse an
 * existing target.
 */
function renameFor(planned: RenameMethod, before: FinalState, proof: DeliveryProof): RenameMethod {
  if (before.kind !== 'unknown') return planned;
  proof.notes.push(`final name not checked before upload: ${before.why}`);
  if (planned !== 'posix-rename') return planned;
  proof.rename = 'rename';
  proof.notes.push('plain rename instead of posix-rename, which would replace a file we could not see');
  return 'rename';
}
