/**
 * What every vector generator does with its output: write it to the
 * committed file, or with --check compare only and exit 1 on a difference.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** `fileName` under test/vectors/, from the repository root. */
export function writeOrCheckVectorFile(fileName: string, text: string): void {
  const target = path.resolve('test', 'vectors', fileName);
  if (!existsSync(path.dirname(target))) {
    console.error(`run from the repository root (${path.dirname(target)} not found)`);
    process.exit(2);
  }
  if (process.argv.includes('--check')) {
    const current = existsSync(target) ? readFileSync(target, 'utf8') : '';
    if (current !== text) {
      console.error(`${target} differs from the generator's output`);
      process.exit(1);
    }
    console.log(`${target} matches the generator`);
  } else {
    writeFileSync(target, text);
    console.log(`wrote ${target} (${text.length} bytes)`);
  }
}
