#!/usr/bin/env node
/**
 * npm run test:mutation [-- module ...]: StrykerJS on each module named (all
 * of stryker.config.mjs's MODULES but the onlyWhenNamed ones when none is), one after the other, each
 * with only its own test files. Scores and survivors: reports/mutation/ and
 * the clear-text table printed at the end of each run. A plain script, not
 * TypeScript: it must run without a build.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODULES } from '../stryker.config.mjs';

const requested = process.argv.slice(2);
// Modules that repeat files of others (all of src/crypto at once, a subset) only when named.
const modules = requested.length > 0 ? requested : Object.keys(MODULES).filter((name) => MODULES[name].onlyWhenNamed !== true);
const unknown = modules.filter((name) => !(name in MODULES));
if (unknown.length > 0) {
  process.stderr.write(`unknown module(s) ${unknown.join(', ')}: one of ${Object.keys(MODULES).join(', ')}\n`);
  process.exit(2);
}
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
// The package's bin (its exports do not list it).
const strykerBin = path.join(root, 'node_modules', '@stryker-mutator', 'core', 'bin', 'stryker.js');
let failed = false;
for (const name of modules) {
  process.stdout.write(`\n=== mutation testing: ${name} (${MODULES[name].mutate.join(', ')}) ===\n`);
  const run = spawnSync(process.execPath, [strykerBin, 'run', 'stryker.config.mjs'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, MUTATION_MODULE: name },
  });
  if (run.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
