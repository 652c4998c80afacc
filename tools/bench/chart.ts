/**
 * A bar chart (SVG, no dependencies) of throughput against the peers, from
 * the JSON that file-throughput.js and s3-throughput.js write with --json:
 * one panel per direction and report, one bar per contender (MiB/s of its
 * median time), cloudlocker's bars highlighted.
 *
 *   node dist/tools/bench/chart.js --inputs local.json,s3.json --out docs/benchmark-throughput.svg
 */
import { readFile, writeFile } from 'node:fs/promises';
import { Args, formatSize } from './lib/cli-args.js';
import type { BenchReport } from './lib/report.js';
import { median, mibPerSecond } from './lib/stats.js';

export interface Bar {
  readonly label: string;
  readonly mibPerSecond: number;
  readonly seconds: number;
  readonly ours: boolean;
}

export interface Panel {
  readonly title: string;
  readonly bars: Bar[];
}

/** Panels of one report: its timed series (unit "s" with a byte count), split into upload and download. */
export function panelsOf(report: BenchReport): Panel[] {
  const size = typeof report.options['size'] === 'number' ? formatSize(report.options['size']) : '';
  // Download series say so, or are a decrypting command ("age -d").
  const isDownload = (name: string) => /download| -d( \((cold|warm)\))?$/.test(name);
  const directions = [
    { title: 'upload', test: (name: string) => !isDownload(name) },
    { title: 'download', test: isDownload },
  ];
  return directions
    .map(({ title, test }) => ({
      title: `${report.benchmark.split(':')[0]} — ${title}${size === '' ? '' : ` of ${size}`}`,
      bars: report.series
        .filter((s) => s.unit === 's' && s.bytes !== undefined && s.values.length > 0 && test(s.name))
        .map((s) => {
          const seconds = median(s.values);
          return {
            label: s.name.replace(/ \((upload|download) group\)/, '').replace(/ \(S3\)/, ''),
            mibPerSecond: mibPerSecond(s.bytes as number, seconds),
            seconds,
            ours: s.name.startsWith('cloudlocker'),
          };
        }),
    }))
    .filter((panel) => panel.bars.length > 0);
}

const WIDTH = 760;
const LABEL_WIDTH = 190;
const BAR_HEIGHT = 22;
const GAP = 8;
const PANEL_TITLE = 28;
const PANEL_GAP = 18;

export function renderChart(panels: readonly Panel[], caption: string): string {
  const max = Math.max(1, ...panels.flatMap((p) => p.bars.map((b) => b.mibPerSecond)));
  const scale = (WIDTH - LABEL_WIDTH - 150) / max;
  const parts: string[] = [];
  let y = 40;
  for (const panel of panels) {
    parts.push(`<text x="10" y="${y + 18}" class="panel">${escape(panel.title)}</text>`);
    y += PANEL_TITLE;
    for (const bar of panel.bars) {
      const width = Math.max(1, bar.mibPerSecond * scale);
      parts.push(
        `<text x="${LABEL_WIDTH - 8}" y="${y + 15}" class="label" text-anchor="end">${escape(bar.label)}</text>`,
        `<rect x="${LABEL_WIDTH}" y="${y}" width="${width.toFixed(1)}" height="${BAR_HEIGHT}" class="${bar.ours ? 'ours' : 'peer'}"/>`,
        `<text x="${(LABEL_WIDTH + width + 6).toFixed(1)}" y="${y + 15}" class="value">${bar.mibPerSecond.toFixed(0)} MiB/s (${bar.seconds.toFixed(2)} s)</text>`,
      );
      y += BAR_HEIGHT + GAP;
    }
    y += PANEL_GAP;
  }
  const height = y + 30;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    '<style>.panel{font-size:15px;font-weight:bold}.label,.value{font-size:13px}.caption{font-size:11px;fill:#555}',
    '.ours{fill:#2b6cb0}.peer{fill:#a0aec0}</style>',
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="22" class="panel">Throughput, median of alternating rounds (higher is better)</text>`,
    ...parts,
    `<text x="10" y="${height - 12}" class="caption">${escape(caption)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

async function main(): Promise<void> {
  const args = new Args();
  const inputs = (args.string('inputs') ?? '').split(',').filter((f) => f !== '');
  const out = args.string('out');
  if (inputs.length === 0 || out === undefined) throw new Error('usage: chart.js --inputs a.json[,b.json] --out chart.svg');
  const reports = await Promise.all(inputs.map(async (file) => JSON.parse(await readFile(file, 'utf8')) as BenchReport));
  const first = reports[0] as BenchReport;
  const loads = reports.map((r) => `${r.load?.min}..${r.load?.max}`).join(', ');
  const caption =
    `${first.machine.nproc} x ${first.machine.cpuModel}, ${first.machine.memoryGiB} GiB, Node ${first.machine.node}; ` +
    `load average ${loads}; every output fsynced inside its time; ${first.startedAt.slice(0, 10)}`;
  await writeFile(out, renderChart(reports.flatMap(panelsOf), caption));
  console.log(`chart written to ${out}`);
}

await main();
