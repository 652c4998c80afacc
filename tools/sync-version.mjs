// npm's "version" script: write the new package.json version into src/server/package-version.ts and stage it.
import { readFileSync, writeFileSync } from 'node:fs';
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
const file = 'src/server/package-version.ts';
writeFileSync(file, readFileSync(file, 'utf8').replace(/PACKAGE_VERSION = '[^']*'/, `PACKAGE_VERSION = '${version}'`));
