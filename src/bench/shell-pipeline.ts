/**
 * The script a team would otherwise write (issue 11): `psql \copy (query) TO file CSV HEADER`,
 * then OpenSSH `sftp put`, then `aws s3 cp`, one after the other, as one bash script that
 * stamps the time between its steps.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface ShellTargets {
  baseDir: string;
  databaseUrl: string;
  timezone: string;
  /** The report query with the date already inlined (the script has no bound parameters). */
  query: string;
  sftp: { port: number; username: string; privateKeyFile: string; root: string };
  s3: { endpoint: string; bucket: string };
}

export interface ShellScript {
  path: string;
  localFile: string;
  remoteName: string;
  objectKey: string;
}

const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

export async function writeShellPipeline(t: ShellTargets, label: string): Promise<ShellScript> {
  const localFile = path.join(t.baseDir, `${label}.csv`);
  const remoteName = `${label}.csv`;
  const objectKey = `${label}.csv`;
  const batch = path.join(t.baseDir, `${label}.sftp`);
  await writeFile(batch, `put ${localFile} ${t.sftp.root}/${remoteName}\n`);
  const script = path.join(t.baseDir, `${label}.sh`);
  const copy = `\\copy (${t.query.replace(/\s+/g, ' ')}) TO ${quote(localFile)} (FORMAT csv, HEADER)`;
  await writeFile(
    script,
    [
      'set -euo pipefail',
      'stamp() { echo "EOD_BENCH_STAMP $1 $(date +%s.%N)"; }',
      'stamp start',
      `psql ${quote(t.databaseUrl)} -q -v ON_ERROR_STOP=1 -c ${quote(`SET TimeZone = '${t.timezone}'`)} -c ${quote(copy)}`,
      'stamp psql',
      `sftp -q -i ${quote(t.sftp.privateKeyFile)} -o StrictHostKeyChecking=no -o ${quote(`UserKnownHostsFile=${path.join(t.baseDir, 'known_hosts')}`)} -P ${t.sftp.port} -b ${quote(batch)} ${t.sftp.username}@127.0.0.1`,
      'stamp sftp',
      `aws --endpoint-url ${quote(t.s3.endpoint)} s3 cp ${quote(localFile)} ${quote(`s3://${t.s3.bucket}/${objectKey}`)} --only-show-errors`,
      'stamp aws',
      '',
    ].join('\n'),
  );
  return { path: script, localFile, remoteName, objectKey };
}

/** Seconds of each step from the script's stamps. */
export function shellStepSeconds(output: string): { psql: number; sftp: number; aws: number } {
  const at = new Map<string, number>();
  for (const match of output.matchAll(/EOD_BENCH_STAMP (\w+) ([\d.]+)/g))
    at.set(match[1] ?? '', Number(match[2]));
  const span = (from: string, to: string) => (at.get(to) ?? Number.NaN) - (at.get(from) ?? Number.NaN);
  return { psql: span('start', 'psql'), sftp: span('psql', 'sftp'), aws: span('sftp', 'aws') };
}
