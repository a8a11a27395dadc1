/** SftpConfig for adapter tests against one of the harness's SFTP servers. */
import type { SftpConfig } from '../../src/config/schema.js';
import type { ProvidedSftp } from '../harness/provided.js';

type Server = Pick<ProvidedSftp, 'host' | 'port' | 'username' | 'privateKeyFile' | 'hostKeySha256'>;

export function sftpConfigFor(
  server: Server,
  directory: string,
  overrides: Partial<SftpConfig> = {},
): SftpConfig {
  return {
    ...sftpSectionFor(server, directory),
    fileMode: 0o640,
    atomicity: 'rename',
    verify: 'readback',
    connectTimeout: 10_000,
    requestTimeout: 60_000,
    noProgressTimeout: 120_000,
    ...overrides,
  };
}

/** The report's `sftp` section of a config file for the same server. */
export function sftpSectionFor(
  server: Server,
  directory: string,
): Pick<SftpConfig, keyof Server | 'directory'> & Record<string, unknown> {
  return {
    host: server.host,
    port: server.port,
    username: server.username,
    privateKeyFile: server.privateKeyFile,
    hostKeySha256: server.hostKeySha256,
    directory,
  };
}
