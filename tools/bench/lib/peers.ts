/**
 * The programs cloudlocker is compared with, run as a user would run them:
 * `cp`, `age` (X25519 recipient from age-keygen) and `rclone` (a crypt remote
 * over a local or an s3 remote, configured through an empty config file and
 * RCLONE_CONFIG_* variables). age and rclone are optional: a script without
 * them measures cloudlocker alone and says they were not installed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

export function isInstalled(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0 ||
    spawnSync(command, ['version'], { stdio: 'ignore' }).status === 0;
}

export function versionOf(command: string, args: string[] = ['--version']): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return (result.stdout || result.stderr).trim().split('\n')[0] ?? 'unknown';
}

/** Run a command to completion; rejects with its stderr when it fails. */
export function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${stderr.trim()}`));
    });
  });
}

export interface AgeIdentity {
  readonly identityFile: string;
  readonly recipient: string;
}

export async function createAgeIdentity(directory: string): Promise<AgeIdentity> {
  const identityFile = path.join(directory, 'age-identity.txt');
  await run('age-keygen', ['-o', identityFile]);
  const recipient = spawnSync('age-keygen', ['-y', identityFile], { encoding: 'utf8' }).stdout.trim();
  if (!recipient.startsWith('age1')) throw new Error('age-keygen -y printed no recipient');
  return { identityFile, recipient };
}

export interface RcloneRemotes {
  /** Environment for every rclone command (config file and remotes). */
  readonly env: NodeJS.ProcessEnv;
  /** The crypt remote's name, e.g. "secret:". */
  readonly crypt: string;
}

/** A crypt remote "secret:" over a local directory, with file names kept readable so outputs can be found. */
export async function rcloneCryptOverLocal(directory: string, workDir: string): Promise<RcloneRemotes> {
  return rcloneCrypt(workDir, { RCLONE_CONFIG_BASE_TYPE: 'local' }, `base:${directory}`);
}

export interface S3RemoteSettings {
  readonly endpoint: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** A crypt remote "secret:" over an s3 remote (provider Other, path style) at `endpoint`. */
export async function rcloneCryptOverS3(settings: S3RemoteSettings, workDir: string): Promise<RcloneRemotes> {
  return rcloneCrypt(
    workDir,
    {
      RCLONE_CONFIG_BASE_TYPE: 's3',
      RCLONE_CONFIG_BASE_PROVIDER: 'Other',
      RCLONE_CONFIG_BASE_ENDPOINT: settings.endpoint,
      RCLONE_CONFIG_BASE_FORCE_PATH_STYLE: 'true',
      RCLONE_CONFIG_BASE_REGION: 'us-east-1',
      RCLONE_CONFIG_BASE_ACCESS_KEY_ID: settings.accessKeyId,
      RCLONE_CONFIG_BASE_SECRET_ACCESS_KEY: settings.secretAccessKey,
    },
    `base:${settings.bucket}/${settings.prefix}`,
  );
}

async function rcloneCrypt(workDir: string, base: Record<string, string>, cryptRemote: string): Promise<RcloneRemotes> {
  const configFile = path.join(workDir, 'rclone.conf');
  await writeFile(configFile, '', { mode: 0o600 });
  const obscured = (await run('rclone', ['obscure', 'benchmark passphrase'])).trim();
  // rclone's AWS SDK fails on AWS_CA_BUNDLE with its own HTTP transport; the
  // servers measured here are plain http on loopback, so no CA bundle applies.
  const { AWS_CA_BUNDLE: _unused, ...inherited } = process.env;
  const env: NodeJS.ProcessEnv = {
    ...inherited,
    RCLONE_CONFIG: configFile,
    ...base,
    RCLONE_CONFIG_SECRET_TYPE: 'crypt',
    RCLONE_CONFIG_SECRET_REMOTE: cryptRemote,
    RCLONE_CONFIG_SECRET_PASSWORD: obscured,
    RCLONE_CONFIG_SECRET_FILENAME_ENCRYPTION: 'off',
    RCLONE_CONFIG_SECRET_DIRECTORY_NAME_ENCRYPTION: 'false',
  };
  return { env, crypt: 'secret:' };
}
