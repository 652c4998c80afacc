/**
 * docs/electron.md shows code only from examples/electron/ (which CI
 * type-checks against Electron's types): every TypeScript block is marked
 * `<!-- snippet: FILE#REGION -->` and must equal that region of the file,
 * between `// [REGION]` and `// [/REGION]`; the packaging block is the
 * example's electron-builder configuration.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

const root = process.cwd();

async function region(file: string, name: string): Promise<string | undefined> {
  const text = await readFile(path.join(root, file), 'utf8');
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`^[ \\t]*// \\[${escaped}\\]\\n([\\s\\S]*?)^[ \\t]*// \\[/${escaped}\\]\\n`, 'm').exec(text);
  return match?.[1]?.replace(/\n+$/, '');
}

it('every TypeScript block in docs/electron.md is a region of the example, unchanged', async () => {
  const doc = await readFile(path.join(root, 'docs', 'electron.md'), 'utf8');
  const blocks = [...doc.matchAll(/(?:<!-- snippet: ([^#\s]+)#(\S+) -->\n)?```ts\n([\s\S]*?)\n```/g)];
  expect(blocks.length).toBeGreaterThanOrEqual(10);
  for (const [, file, name, code] of blocks) {
    expect({ block: code?.slice(0, 60), marked: file !== undefined }).toEqual({ block: code?.slice(0, 60), marked: true });
    expect(code).toBe(await region(file!, name!));
  }
});

it('the packaging block is the example\'s electron-builder configuration', async () => {
  const doc = await readFile(path.join(root, 'docs', 'electron.md'), 'utf8');
  const json = /## 10\. Packaging[\s\S]*?```json\n([\s\S]*?)\n```/.exec(doc)?.[1];
  const manifest = JSON.parse(await readFile(path.join(root, 'examples', 'electron', 'package.json'), 'utf8')) as { build: unknown };
  expect(JSON.parse(json ?? 'null')).toEqual({ build: manifest.build });
  expect(manifest.build).toMatchObject({ asarUnpack: ['dist/cloudlocker/**'] });
});
