/**
 * The platform's usual per-user application-data directory. Ten lines instead
 * of a dependency (env-paths): we need only the "data" flavour, and the
 * platform and environment are parameters so every branch can be tested on
 * any machine.
 */
import os from 'node:os';
import path from 'node:path';

export const APP_DIR_NAME = 'cloudlocker';

export function platformDataDir(
  env: Readonly<Record<string, string | undefined>> = process.env,
  platform: NodeJS.Platform = process.platform,
  home: string = os.homedir(),
): string {
  if (platform === 'win32') {
    const appData = env['APPDATA'];
    return path.win32.join(appData !== undefined && appData !== '' ? appData : path.win32.join(home, 'AppData', 'Roaming'), APP_DIR_NAME);
  }
  if (platform === 'darwin') return path.posix.join(home, 'Library', 'Application Support', APP_DIR_NAME);
  // XDG Base Directory spec: a relative XDG_DATA_HOME is invalid and must be ignored.
  const xdg = env['XDG_DATA_HOME'];
  const base = xdg !== undefined && path.posix.isAbsolute(xdg) ? xdg : path.posix.join(home, '.local', 'share');
  return path.posix.join(base, APP_DIR_NAME);
}
