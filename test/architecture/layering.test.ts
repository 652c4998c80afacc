/**
 * The layering of src/ (docs/architecture.md): a lower layer never imports
 * an upper one, client/ imports nothing of the server side, protocol/
 * imports nothing from src/. The rule itself is LAYERS in
 * test/protocol/import-scan.ts, beside the protocol/ import scan.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAYERS, layeringProblems, roomOf } from '../protocol/import-scan.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

const files = [...sourceFiles(path.join(root, 'src')), ...sourceFiles(path.join(root, 'protocol'))];

describe('the layering of src/', () => {
  it('finds the source files', () => {
    expect(files.length).toBeGreaterThan(50);
  });

  it.each(files.map((file) => [path.relative(root, file), file]))('%s imports only what its layer may', (_name, file) => {
    expect(layeringProblems(file, readFileSync(file, 'utf8'), root)).toEqual([]);
  });

  it('places every room of src/ in LAYERS', () => {
    const rooms = new Set(files.map((file) => roomOf(file, root)));
    for (const room of rooms) expect(Object.keys(LAYERS)).toContain(room);
  });

  it('notices a lower layer importing an upper one, the client importing the server, and a new room', () => {
    const at = (relative: string) => path.join(root, ...relative.split('/'));
    expect(layeringProblems(at('src/transfer/x.ts'), "import { startServer } from '../server/start-server.js';", root)).toEqual([
      'src/transfer/x.ts:1: "../server/start-server.js": transfer may not import server',
    ]);
    expect(layeringProblems(at('src/storage/x.ts'), "import type { MasterKey } from '../crypto/master-key.js';", root)).toEqual([
      'src/storage/x.ts:1: "../crypto/master-key.js": storage may not import crypto',
    ]);
    expect(layeringProblems(at('src/client/x.ts'), "export { readDiscoveryFile } from '../server/discovery-file.js';", root)).toEqual([
      'src/client/x.ts:1: "../server/discovery-file.js": client may not import server',
    ]);
    expect(layeringProblems(at('src/fs/x.ts'), "const lazy = () => import('../transfer/resume.js');", root)).toEqual([
      'src/fs/x.ts:1: "../transfer/resume.js": fs may not import transfer',
    ]);
    expect(layeringProblems(at('protocol/x.ts'), "import { CloudlockerError } from '../src/errors.js';", root)).toEqual([
      'protocol/x.ts:1: "../src/errors.js": protocol may not import errors',
    ]);
    expect(layeringProblems(at('src/sharing/x.ts'), '', root)).toEqual([
      'src/sharing/x.ts: the room "sharing" is not in LAYERS (test/protocol/import-scan.ts, docs/architecture.md)',
    ]);
    // Downward and within a room is fine.
    expect(layeringProblems(at('src/methods/x.ts'), "import { TransferEngine } from '../transfer/transfer-engine.js';\nimport { x } from './y.js';", root)).toEqual([]);
  });
});
