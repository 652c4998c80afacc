/**
 * This build's version. A constant, not package.json read from disk: inside
 * a bundle (npm run bundle) or an Electron asar there is no package.json next
 * to the code. `npm version` rewrites it (the "version" script), and
 * test/server/package-version.test.ts fails when it and package.json differ.
 */
export const PACKAGE_VERSION = '0.1.0';

export function packageVersion(): string {
  return PACKAGE_VERSION;
}
