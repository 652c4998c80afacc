/**
 * Folder transfers: uploadFolder and downloadFolder of a whole tree through
 * cloudlocker (server in its own process, local store, timed as the client
 * sees it: request sent to answer received), against `rclone copy` of the
 * same tree to and from a crypt remote over a local remote, in the same run
 * and alternating (see lib/alternating.ts). Two trees (issue 16):
 *
 *   small   10 000 files of 4 KiB, in 10 folders of 1 000
 *   large   100 files of 10 MiB, in one folder
 *
 * cloudlocker fsyncs every object it stores and every file it saves before it
 * answers; rclone's local backend does not, so each rclone run is followed,
 * inside its timed interval, by an fsync of every file it wrote (as
 * file-throughput does for its peers). The rclone copy alone (before that
 * fsync) is recorded too, from the same run, so the cost of durability is
 * visible on its own.
 *
 * Also: the server's peak RSS during every cloudlocker run (sampled every
 * 50 ms), and listFiles in folder view over the stored small tree (10 000
 * objects): the tree's top level (10 folders with counts) and one folder's
 * first page (1 000 files, each listed with its size, which for age objects
 * costs a header read each).
 *
 *   npm run build && node dist/tools/bench/folder-throughput.js [--rounds 3] [--json FILE] [--work-dir DIR]
 *     [--small-files 10000] [--small-size 4KiB] [--large-files 100] [--large-size 10MiB] [--trees small,large]
 *     [--list-calls 50] [--no-peers] [--no-quiet] [--drop-cache files] [--keep-server] [--baseline-build DIR]
 *     [--server-node-args "--cpu-prof --cpu-prof-dir DIR"] [--format age|v1]
 *
 * --baseline-build DIR adds a server run from another build (its dist/ and
 * package.json) as one more contender: before/after figures of a change in
 * the same run.
 *
 * Targets: upload and download ÷ rclone crypt (with fsync) <= 0.5x (small
 * files), <= 0.6x (large files); server peak RSS <= 150 MiB; listFiles
 * folder view p50 <= 50 ms.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Args, formatSize } from './lib/cli-args.js';
import { type Contender, runGroup } from './lib/alternating.js';
import { createRandomFile, fsyncPath, removePath, sameContent } from './lib/files.js';
import { PageCache } from './lib/page-cache.js';
import { isInstalled, rcloneCryptOverLocal, run, versionOf } from './lib/peers.js';
import { Recorder } from './lib/report.js';
import { keyTypeFor, makeWorkDir, measure, parseFormats, ServerRunner, type Session } from './lib/session.js';
import { median, medianPairRatio, percentile } from './lib/stats.js';

const args = new Args();
const common = args.common(3);
const trees = (args.string('trees', 'small,large') ?? 'small,large').split(',').map((tree) => tree.trim());
for (const tree of trees) if (tree !== 'small' && tree !== 'large') throw new Error(`--trees takes small and/or large, got "${tree}"`);
const shapes = {
  small: { files: Math.max(1, Math.floor(args.number('small-files', 10_000))), size: args.size('small-size', 4 * 1024), perFolder: 1000 },
  large: { files: Math.max(1, Math.floor(args.number('large-files', 100))), size: args.size('large-size', 10 * 1024 ** 2), perFolder: Number.POSITIVE_INFINITY },
} as const;
type TreeName = keyof typeof shapes;
const listCalls = Math.max(5, Math.floor(args.number('list-calls', 50)));
const baselineBuild = args.string('baseline-build');
const [format] = parseFormats(args.string('format', 'age'));
const TARGETS: Record<TreeName, number> = { small: 0.5, large: 0.6 };

const workDir = await makeWorkDir(common.workDir, 'cloudlocker-bench-folders-');
const recorder = new Recorder('folder throughput: uploadFolder/downloadFolder vs rclone copy to a crypt remote, local store', workDir, {
  trees: trees.join(','),
  smallFiles: shapes.small.files,
  smallSize: shapes.small.size,
  largeFiles: shapes.large.files,
  largeSize: shapes.large.size,
  rounds: common.rounds,
  format,
  serverPerRun: !args.flag('keep-server'),
});
const hasRclone = common.peers && isInstalled('rclone');
recorder.report.peers['rclone'] = hasRclone ? versionOf('rclone', ['version']) : common.peers ? 'rclone not installed' : 'left out (--no-peers)';
// Evicting tens of thousands of files (one dd each) would take longer than the runs: the page cache is
// left alone unless --drop-cache is given, and the report says so.
const cache = new PageCache(args.string('drop-cache') === undefined ? 'off' : common.dropCache, [workDir]);
const out = path.join(workDir, 'out');
const rcloneStore = path.join(workDir, 'rclone-store');
await mkdir(out);

/** The source trees: random (incompressible) files, in folders of perFolder. */
const sources = new Map<TreeName, { root: string; files: string[]; bytes: number }>();
for (const tree of trees as TreeName[]) {
  const { files, size, perFolder } = shapes[tree];
  const root = path.join(workDir, `source-${tree}`);
  process.stderr.write(`writing the ${tree} tree: ${files} files of ${formatSize(size)}\n`);
  const written: string[] = [];
  for (let i = 0; i < files; i++) {
    const folder = Number.isFinite(perFolder) ? path.join(root, `d${String(Math.floor(i / perFolder)).padStart(2, '0')}`) : root;
    if (i === 0 || (Number.isFinite(perFolder) && i % perFolder === 0)) await mkdir(folder, { recursive: true });
    const file = path.join(folder, `f${String(i).padStart(5, '0')}.bin`);
    await createRandomFile(file, size);
    written.push(path.relative(root, file));
  }
  sources.set(tree, { root, files: written, bytes: files * size });
}

const restartEachRun = !args.flag('keep-server');
const servers = [
  { label: `cloudlocker ${format}`, dataDir: path.join(workDir, 'server'), runner: new ServerRunner(workDir, { dataDir: path.join(workDir, 'server'), keyType: keyTypeFor(format!), nodeArgs: common.serverNodeArgs }, restartEachRun) },
  ...(baselineBuild === undefined
    ? []
    : [{ label: 'baseline build', dataDir: path.join(workDir, 'baseline-server'), runner: new ServerRunner(workDir, { build: baselineBuild, dataDir: path.join(workDir, 'baseline-server'), keyType: keyTypeFor(format!), nodeArgs: common.serverNodeArgs }, restartEachRun) }]),
];
const rclone = hasRclone ? await rcloneCryptOverLocal(rcloneStore, workDir) : undefined;

interface FolderResult {
  filesTotal: number;
  filesStored?: number;
  filesSaved?: number;
  failed: unknown[];
}

function uploadFolder(session: Session, root: string, name: string): Promise<FolderResult> {
  return session.client.call<FolderResult>('uploadFolder', { path: root, name, keyPath: session.keyPath, overwrite: true });
}

function downloadFolder(session: Session, name: string, destination: string): Promise<FolderResult> {
  return session.client.call<FolderResult>('downloadFolder', { name, keyPath: session.keyPath, destination, createDirectories: true });
}

function expectWhole(label: string, result: FolderResult, files: number): void {
  const done = result.filesStored ?? result.filesSaved;
  if (done !== files || result.failed.length > 0) throw new Error(`${label}: ${done} of ${files} files, ${result.failed.length} failed: ${JSON.stringify(result.failed.slice(0, 3))}`);
}

/** Every file of the tree equals its source (first round only: 10 000 comparisons are not free). */
async function verifyTree(label: string, tree: TreeName, copyRoot: string, round: number): Promise<void> {
  if (round !== 0) return;
  const source = sources.get(tree)!;
  for (const relative of source.files) {
    if (!(await sameContent(path.join(source.root, relative), path.join(copyRoot, relative)))) throw new Error(`${label}: ${relative} differs from its source`);
  }
}

/** The rclone part and the fsync part of a run, timed separately (the fsync's share is recorded as its own series). */
async function rcloneThenFsync(seriesName: string, args: string[], output: string): Promise<{ seconds: number; cpu: number }> {
  const start = performance.now();
  await run('rclone', args, rclone!.env);
  const copied = performance.now();
  await fsyncPath(output);
  const end = performance.now();
  recorder.add(`${seriesName}: rclone copy alone (no fsync)`, 's', (copied - start) / 1000);
  return { seconds: (end - start) / 1000, cpu: Number.NaN };
}

function contendersFor(tree: TreeName): { uploads: Contender[]; downloads: Contender[] } {
  const source = sources.get(tree)!;
  const stored = (label: string, round: number) => `${label.replace(/\W+/g, '-')}-${tree}-${round}`;
  const local = (label: string, round: number) => path.join(out, `${label.replace(/\W+/g, '-')}-${tree}-${round}`);
  const named = (name: string) => `${name} (${tree})`;
  const sourceFiles = async () => source.files.map((relative) => path.join(source.root, relative));
  const uploads: Contender[] = [
    ...servers.map(
      ({ label, runner }): Contender => ({
        name: named(`${label} uploadFolder`),
        inputs: sourceFiles,
        async run(round) {
          const m = await runner.use((s) => measure(s.server, () => uploadFolder(s, source.root, stored(label, round))));
          expectWhole(named(`${label} uploadFolder`), m.result, source.files.length);
          return { seconds: m.seconds, cpu: m.serverCpu, mainThreadCpu: m.serverMainCpu, rss: m.serverRss };
        },
      }),
    ),
    {
      name: named('rclone copy to crypt'),
      ...(rclone === undefined ? { unavailable: recorder.report.peers['rclone'] } : {}),
      prepare: (round) => removePath(path.join(rcloneStore, stored('rclone', round))),
      inputs: sourceFiles,
      run: (round) => rcloneThenFsync(named('rclone copy to crypt'), ['copy', source.root, `${rclone!.crypt}${stored('rclone', round)}`], path.join(rcloneStore, stored('rclone', round))),
    },
  ];
  const downloads: Contender[] = [
    ...servers.map(
      ({ label, runner }): Contender => ({
        name: named(`${label} downloadFolder`),
        prepare: (round) => removePath(local(label, round)),
        async run(round) {
          const m = await runner.use((s) => measure(s.server, () => downloadFolder(s, stored(label, round), local(label, round))));
          expectWhole(named(`${label} downloadFolder`), m.result, source.files.length);
          return { seconds: m.seconds, cpu: m.serverCpu, mainThreadCpu: m.serverMainCpu, rss: m.serverRss };
        },
        async after(round) {
          // downloadFolder recreates the tree as <destination>/<last segment of the name>/...
          await verifyTree(named(`${label} downloadFolder`), tree, path.join(local(label, round), stored(label, round)), round);
          await removePath(local(label, round));
          if (tree === 'small' && round === 0) await runner.use((s) => measureListing(s, label, stored(label, round)));
          await runner.use((s) => s.client.call('deleteFile', { name: stored(label, round), recursive: true }));
        },
      }),
    ),
    {
      name: named('rclone copy from crypt'),
      ...(rclone === undefined ? { unavailable: recorder.report.peers['rclone'] } : {}),
      prepare: (round) => removePath(local('rclone', round)),
      inputs: async (round) => [path.join(rcloneStore, stored('rclone', round))],
      run: (round) => rcloneThenFsync(named('rclone copy from crypt'), ['copy', `${rclone!.crypt}${stored('rclone', round)}`, local('rclone', round)], local('rclone', round)),
      async after(round) {
        await verifyTree(named('rclone copy from crypt'), tree, local('rclone', round), round);
        await removePath(local('rclone', round));
        await removePath(path.join(rcloneStore, stored('rclone', round)));
      },
    },
  ];
  return { uploads, downloads };
}

/**
 * listFiles in folder view over the stored small tree: its top level, and one folder's first page.
 * The first call of each is recorded on its own (nothing read before: a folder opened for the first
 * time); then `listCalls` more (a folder view listed again, as a UI does).
 */
async function measureListing(session: Session, label: string, folder: string): Promise<void> {
  const views = [
    { series: `${label} listFiles folder view: top of a ${shapes.small.files}-file tree`, params: { prefix: `${folder}/`, delimiter: '/' } },
    { series: `${label} listFiles folder view: first page of one folder (${Math.min(shapes.small.perFolder, shapes.small.files)} files)`, params: { prefix: `${folder}/d00/`, delimiter: '/' } },
  ];
  for (const view of views) {
    const first = performance.now();
    await session.client.call('listFiles', view.params);
    recorder.add(`${view.series}, first call`, 'ms', performance.now() - first);
    const times: number[] = [];
    for (let i = 0; i < listCalls; i++) {
      const start = performance.now();
      await session.client.call('listFiles', view.params);
      times.push(performance.now() - start);
    }
    for (const value of times) recorder.add(view.series, 'ms', value);
  }
}

const groups = new Map(trees.map((tree) => [tree, contendersFor(tree as TreeName)] as const));
try {
  for (let round = 0; round < common.rounds; round++) {
    for (const tree of round % 2 === 0 ? trees : [...trees].reverse()) {
      const { uploads, downloads } = groups.get(tree)!;
      const bytes = sources.get(tree as TreeName)!.bytes;
      await runGroup(uploads, round, { recorder, cache, bytes, quiet: common.quiet });
      await runGroup(downloads, round, { recorder, cache, bytes, quiet: common.quiet });
    }
  }
} finally {
  for (const { runner } of servers) await runner.close();
}
recorder.report.pageCache = cache.status;

const ratio = (a: string, b: string) => medianPairRatio(recorder.values(a), recorder.values(b));
for (const tree of trees as TreeName[]) {
  const named = (name: string) => `${name} (${tree})`;
  const { files, size } = shapes[tree];
  const what = `${tree} (${files} × ${formatSize(size)})`;
  for (const { label } of servers) {
    const up = named(`${label} uploadFolder`);
    const down = named(`${label} downloadFolder`);
    if (label.startsWith('cloudlocker')) {
      recorder.check(`${what}: uploadFolder ÷ rclone copy to crypt (+fsync)`, ratio(up, named('rclone copy to crypt')), '<=', TARGETS[tree], 'x');
      recorder.check(`${what}: downloadFolder ÷ rclone copy from crypt (+fsync)`, ratio(down, named('rclone copy from crypt')), '<=', TARGETS[tree], 'x');
      recorder.figure(`${what}: uploadFolder ÷ rclone copy alone (no fsync)`, ratio(up, `${named('rclone copy to crypt')}: rclone copy alone (no fsync)`), 'x');
      recorder.figure(`${what}: downloadFolder ÷ rclone copy alone (no fsync)`, ratio(down, `${named('rclone copy from crypt')}: rclone copy alone (no fsync)`), 'x');
      recorder.figure(`${what}: uploadFolder files per second (median)`, files / median(recorder.values(up)), '/s');
      recorder.figure(`${what}: downloadFolder files per second (median)`, files / median(recorder.values(down)), '/s');
      recorder.check(`${what}: server peak RSS, uploadFolder`, Math.max(...recorder.values(`${up}: server peak RSS`)), '<=', 150, ' MiB');
      recorder.check(`${what}: server peak RSS, downloadFolder`, Math.max(...recorder.values(`${down}: server peak RSS`)), '<=', 150, ' MiB');
    } else {
      recorder.figure(`${what}: uploadFolder ÷ baseline build`, ratio(named(`${servers[0]!.label} uploadFolder`), up), 'x');
      recorder.figure(`${what}: downloadFolder ÷ baseline build`, ratio(named(`${servers[0]!.label} downloadFolder`), down), 'x');
    }
  }
}
if (trees.includes('small')) {
  for (const series of recorder.report.series.filter((s) => s.name.includes('listFiles folder view') && !s.name.endsWith('first call'))) {
    if (series.name.startsWith('cloudlocker')) recorder.check(`${series.name} p50`, percentile(series.values, 50), '<=', 50, ' ms');
    else recorder.figure(`${series.name} p50`, percentile(series.values, 50), ' ms');
  }
}
if (baselineBuild !== undefined) recorder.note(`baseline build: ${baselineBuild}`);
recorder.note('rclone times include an fsync of every file it wrote (cloudlocker fsyncs each stored object and saved file before it answers)');
recorder.note('the tree is checked file by file against its source after the first round of each download');

await recorder.finish(common.jsonFile);
await removePath(workDir);
