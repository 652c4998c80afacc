/**
 * The service's messages name protocol params ("pass overwrite: true",
 * "keyPath"); a person at the command line knows flags. Human output says
 * the flag instead; --json output keeps the service's message unchanged.
 */

/** Protocol param → the flag (or argument) that sets it on the command line. */
export const PARAM_FLAGS: Readonly<Record<string, string>> = {
  overwrite: '--overwrite',
  keyPath: '--key',
  keyPassphrase: `--key-passphrase-from-stdin (or CLOUDLOCKER_KEY_PASSPHRASE)`,
  passphrase: '--passphrase-from-stdin (or CLOUDLOCKER_KEY_PASSPHRASE)',
  destination: '--to',
  createDirectories: '--create-dirs',
  transferId: '--transfer-id',
  name: '--name',
  path: '<file>',
  recipients: '--recipient',
  keyType: '--key-type',
  acceptUnauthored: '--accept-unauthored',
};

const REWRITES: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bpass overwrite: true\b/g, 'add --overwrite'],
  [/\baccept unauthored files explicitly\b/g, 'add --accept-unauthored'],
  [/\bpass createDirectories: true\b/g, 'add --create-dirs'],
  [/\boverwrite: true\b/g, '--overwrite'],
  [/\bpass its path as keyPath\b/g, 'pass its path with --key'],
  [/\bprovide the passphrase\b/g, `give it with --key-passphrase-from-stdin or CLOUDLOCKER_KEY_PASSPHRASE`],
  [/\bkeyPassphrase\b/g, PARAM_FLAGS['keyPassphrase']!],
  [/\bkeyPath\b/g, '--key'],
  [/\btransferId\b/g, '--transfer-id'],
];

/** The message with protocol params named as the CLI's flags. */
export function cliWording(message: string): string {
  let text = message;
  for (const [pattern, replacement] of REWRITES) text = text.replace(pattern, replacement);
  return text;
}

/** A -32602 param as the flag that sets it (the param's own name when no flag does). */
export function flagOfParam(param: string): string {
  return PARAM_FLAGS[param] ?? param;
}
