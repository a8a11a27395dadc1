/**
 * `npm run bench -- --sftp-servers [--mib N] [--pairs P]`: the delivery of one file of N MiB
 * (default 50) to each SFTP server the tests use (OpenSSH, ProFTPD mod_sftp, rclone serve sftp
 * with and without its write cache, gesftpserver), by the product's adapter (connect, upload,
 * verify, rename) and by OpenSSH's `sftp put` of the same file to the same server, alternated,
 * medians of P pairs (default 3). Prints a table server × product × `sftp put`; asserts nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SftpDelivery } from '../adapters/sftp/sftp-delivery.js';
import { startGesftpserver } from '../embedded/other-sftp-servers.js';
import { startProftpdSftp } from '../embedded/proftpd.js';
import { startRcloneSftp } from '../embedded/rclone.js';
import type { EmbeddedSftp } from '../embedded/sftp-server.js';
import { startOpenSshSftp } from '../embedded/sshd.js';
import type { DeliveryProof, ReportContent } from '../ports.js';
import { median, runCollecting as run } from './measure.js';

const SERVERS: Array<[string, (baseDir: string) => Promise<EmbeddedSftp>]> = [
  ['OpenSSH', (baseDir) => startOpenSshSftp({ baseDir, name: 'bench-openssh' })],
  ['ProFTPD mod_sftp', (baseDir) => startProftpdSftp({ baseDir, name: 'bench-proftpd' })],
  ['rclone (no cache)', (baseDir) => startRcloneSftp({ baseDir, name: 'bench-rclone' })],
  [
    'rclone (write cache)',
    (baseDir) => startRcloneSftp({ baseDir, name: 'bench-rclone-c', writeCache: true }),
  ],
  ['gesftpserver', (baseDir) => startGesftpserver({ baseDir, name: 'bench-ges' })],
];

function fileContent(file: string, bytes: number, sha256: string): ReportContent {
  return { rows: 0, bytes, sha256, open: () => createReadStream(file, { highWaterMark: 1024 * 1024 }) };
}

export async function benchSftpServers(options: { mib: number; pairs: number }): Promise<number> {
  const baseDir = await mkdtemp(path.join(tmpdir(), 'eod-bench-sftp-'));
  try {
    const bytes = options.mib * 1024 * 1024;
    const localFile = path.join(baseDir, 'report.csv');
    // Random bytes: no compression anywhere can flatter either side.
    await writeFile(localFile, randomBytes(bytes));
    const sha256 = createHash('sha256')
      .update(await readFile(localFile))
      .digest('hex');
    console.log(`\nSFTP servers: ${options.mib} MiB file, medians of ${options.pairs} alternated pairs\n`);
    console.log(`${'server'.padEnd(22)}${'product'.padStart(10)}${'sftp put'.padStart(10)}   ratio   how`);
    for (const [name, start] of SERVERS) {
      let server: EmbeddedSftp;
      try {
        server = await start(baseDir);
      } catch (error) {
        console.log(`${name.padEnd(22)}  not started: ${(error as Error).message.split('\n')[0]}`);
        continue;
      }
      try {
        const directory = path.join(server.root, 'bench');
        await mkdir(directory, { recursive: true });
        const knownHosts = path.join(baseDir, `${server.port}.known_hosts`);
        // The harness servers keep their host key beside the client key.
        const hostKey = await readFile(
          path.join(path.dirname(server.privateKeyFile), 'host_ed25519.pub'),
          'utf8',
        );
        await writeFile(knownHosts, `[127.0.0.1]:${server.port} ${hostKey}`);
        const product: number[] = [];
        const put: number[] = [];
        let proof: DeliveryProof | undefined;
        for (let pair = 0; pair < options.pairs; pair++) {
          const order = pair % 2 === 0 ? ['product', 'put'] : ['put', 'product'];
          for (const side of order) {
            const target = `${side}-${pair}.csv`;
            const started = performance.now();
            if (side === 'product') {
              const delivery = new SftpDelivery({
                host: server.host,
                port: server.port,
                username: server.username,
                privateKeyFile: server.privateKeyFile,
                hostKeySha256: server.hostKeySha256,
                directory,
                fileMode: 0o640,
                verify: 'readback',
                atomicity: 'rename',
                connectTimeout: 20_000,
                requestTimeout: 60_000,
                noProgressTimeout: 120_000,
              });
              try {
                proof = (await delivery.deliver(target, fileContent(localFile, bytes, sha256))).proof;
              } finally {
                await delivery.close();
              }
              product.push((performance.now() - started) / 1000);
            } else {
              const batch = path.join(baseDir, 'batch');
              await writeFile(batch, `put ${localFile} ${directory}/${target}\n`);
              const result = await run('sftp', [
                '-q',
                '-b',
                batch,
                '-i',
                server.privateKeyFile,
                '-o',
                `UserKnownHostsFile=${knownHosts}`,
                '-o',
                'StrictHostKeyChecking=yes',
                '-o',
                'BatchMode=yes',
                '-P',
                String(server.port),
                `${server.username}@127.0.0.1`,
              ]);
              if (result.code !== 0) throw new Error(`sftp put to ${name} failed: ${result.output}`);
              put.push((performance.now() - started) / 1000);
            }
            await rm(path.join(directory, target), { force: true });
          }
        }
        const p = median(product);
        const q = median(put);
        const how = proof
          ? `${proof.rename}, ${proof.writes ?? '?'} writes of ${proof.writeLength} B × ${proof.maxInFlight}`
          : '';
        console.log(
          `${name.padEnd(22)}${`${p.toFixed(2)} s`.padStart(10)}${`${q.toFixed(2)} s`.padStart(10)}   ${(p / q).toFixed(2).padStart(5)}   ${how}`,
        );
      } finally {
        await server.stop();
      }
    }
    console.log(
      '\nproduct = SftpDelivery.deliver: connect, upload to a temporary name, fsync, STAT, rename.',
    );
    console.log(
      'sftp put = OpenSSH sftp -b with one put: connect, upload (64 requests of 32 KiB in flight).',
    );
    return 0;
  } finally {
    await rm(baseDir, { recursive: true, force: true });
  }
}
