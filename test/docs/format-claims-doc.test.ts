/**
 * docs/security.md, README.md and docs/protocol.md describe both stored
 * formats, v2 (age, the default) and v1, each under its own heading: a v1
 * fact (256-bit master key, scrypt 2^15, AES-GCM, "nothing binds an object to
 * its name", "compare keyId to find the key") must not read as true of v2,
 * and the v2 facts (ChaCha20-Poly1305, scrypt 2^18, WRONG_NAME) are stated.
 * Links into docs/format.md must point at headings that exist.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

const root = process.cwd();
const read = (file: string) => readFile(path.join(root, file), 'utf8');

interface Section {
  readonly heading: string;
  readonly level: number;
  /** The section's own text, up to the next heading of any level. */
  readonly text: string;
  /** The headings it sits under, outermost first, itself last. */
  readonly trail: readonly string[];
}

function sections(markdown: string): Section[] {
  const result: Section[] = [];
  const trail: { heading: string; level: number }[] = [];
  let current: { heading: string; level: number; lines: string[]; trail: string[] } = { heading: '', level: 0, lines: [], trail: [] };
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const match = fenced ? null : /^(#{1,6}) (.*)$/.exec(line);
    if (match === null) {
      current.lines.push(line);
      continue;
    }
    result.push({ heading: current.heading, level: current.level, text: current.lines.join('\n'), trail: current.trail });
    const level = match[1]!.length;
    while (trail.length > 0 && trail[trail.length - 1]!.level >= level) trail.pop();
    trail.push({ heading: match[2]!, level });
    current = { heading: match[2]!, level, lines: [], trail: trail.map((t) => t.heading) };
  }
  result.push({ heading: current.heading, level: current.level, text: current.lines.join('\n'), trail: current.trail });
  return result;
}

/** GitHub's anchor for a heading. */
function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The sections whose text matches, as "trail > heading" strings. */
function whereStated(doc: Section[], claim: RegExp): string[] {
  return doc.filter((s) => claim.test(s.text.replace(/\s+/g, ' '))).map((s) => s.trail.join(' > '));
}

const V1_ONLY = [/256-bit \**master key/i, /N = 2\^15/, /AES-256-GCM/, /nothing binds an object to its name/i];

describe('docs/security.md', () => {
  it('states each v1-only fact only under a v1 heading', async () => {
    const doc = sections(await read('docs/security.md'));
    for (const claim of V1_ONLY) {
      const places = whereStated(doc, claim);
      expect({ claim: String(claim), places: places.length > 0 }).toEqual({ claim: String(claim), places: true });
      for (const place of places) expect({ claim: String(claim), place, v1: /v1/.test(place) }).toEqual({ claim: String(claim), place, v1: true });
    }
  });

  it('describes v2 keys and objects under v2 headings: age identity, scrypt 2^18, ChaCha20-Poly1305, names bound', async () => {
    const doc = sections(await read('docs/security.md'));
    const v2Text = doc.filter((s) => s.trail.some((h) => /v2/.test(h))).map((s) => s.text.replace(/\s+/g, ' ')).join('\n');
    for (const fact of [/age identity/, /2\^18/, /ChaCha20-Poly1305/, /WRONG_NAME/, /format\.md#16-author-stanza/, /format\.md#21-what-v2-does-not-hide-or-detect/]) {
      expect({ fact: String(fact), stated: fact.test(v2Text) }).toEqual({ fact: String(fact), stated: true });
    }
  });
});

describe('links into docs/format.md', () => {
  it.each(['docs/security.md'])('%s links only to headings that exist', async (file) => {
    const anchors = new Set(sections(await read('docs/format.md')).map((s) => slug(s.heading)));
    const links = [...(await read(file)).matchAll(/format\.md#([\w-]+)/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(0);
    for (const anchor of links) expect({ anchor, exists: anchors.has(anchor) }).toEqual({ anchor, exists: true });
  });
});

describe('README.md', () => {
  it('says what v2 encrypts with and keeps v1 facts in the v1 bullet', async () => {
    const readme = (await read('README.md')).replace(/\s+/g, ' ');
    expect(readme).toMatch(/ChaCha20-Poly1305/);
    expect(readme).toMatch(/binds the file to its \*\*name\*\*/);
    const bullets = (await read('README.md')).split(/\n(?=- \*\*)/);
    for (const claim of [/AES-256-GCM/, /master key/]) {
      for (const bullet of bullets.filter((b) => claim.test(b))) expect(bullet.slice(0, 40)).toMatch(/v1/);
    }
  });
});

describe('docs/protocol.md getFileInfo', () => {
  it('limits "compare keyId to find the key" to v1 and says what keyId is for age objects', async () => {
    const section = sections(await read('docs/protocol.md')).find((s) => s.heading === '`getFileInfo`')!;
    expect(section).toBeDefined();
    const text = section.text.replace(/\s+/g, ' ');
    const advice = text.split(/(?<=[.:])\s|\n|\|/).filter((sentence) => /compare/i.test(sentence) && /keyId/.test(sentence));
    expect(advice.length).toBeGreaterThan(0);
    const paragraphs = section.text.split(/\n(?=- |\|)/);
    for (const paragraph of paragraphs.filter((p) => /compare/i.test(p) && /keyId/.test(p))) expect(paragraph).toMatch(/v1/);
    expect(text).toMatch(/anonymous/);
    expect(text).toMatch(/author/);
  });
});
