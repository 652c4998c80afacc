import { readFile } from 'node:fs/promises';
import { PACKAGE_VERSION, packageVersion } from '../../src/server/package-version.js';

it('the version constant is the one in package.json (npm version rewrites it)', async () => {
  const manifest = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  expect(PACKAGE_VERSION).toBe(manifest.version);
  expect(packageVersion()).toBe(manifest.version);
});
