/**
 * Reads docs/protocol.md into the facts the consistency test compares with
 * protocol/: sections by heading, their tables and their JSON examples.
 * It understands only the shapes that page promises to keep (see its
 * introduction), and fails loudly on anything it cannot read rather than
 * skipping it, so that a reshaped page cannot silently escape the checks.
 */

export interface DocTable {
  /** Header cells, lower-cased. */
  readonly header: readonly string[];
  /** Body rows as raw trimmed cell text, one array per row, as long as the header. */
  readonly rows: ReadonlyArray<readonly string[]>;
  /** 1-based line of the header row, for messages. */
  readonly line: number;
}

export interface JsonBlock {
  readonly value: unknown;
  readonly line: number;
}

export interface DocSection {
  /** 2 for "##", 3 for "###". */
  readonly level: number;
  readonly title: string;
  /** The heading's name when the heading is exactly one code span: "### `upload`" → "upload". */
  readonly codeName: string | undefined;
  /** Prose lines of the section (outside code blocks and tables), joined. */
  readonly text: string;
  readonly tables: readonly DocTable[];
  readonly jsonBlocks: readonly JsonBlock[];
  /** Level-3 sections inside a level-2 section. */
  readonly children: readonly DocSection[];
}

interface MutableSection {
  level: number;
  title: string;
  codeName: string | undefined;
  text: string[];
  tables: DocTable[];
  jsonBlocks: JsonBlock[];
  children: MutableSection[];
}

/** Parses the page; throws on a `json` block that is not JSON or a malformed table. */
export function parseProtocolDoc(markdown: string): DocSection[] {
  const lines = markdown.split('\n');
  const top: MutableSection[] = [];
  const preamble = newSection(1, '');
  let current = preamble;
  let index = 0;
  while (index < lines.length) {
    const line = lines[index] ?? '';
    const fence = /^```(\S*)\s*$/.exec(line);
    if (fence !== null) {
      const start = index;
      const body: string[] = [];
      index += 1;
      while (index < lines.length && lines[index] !== '```') body.push(lines[index++] ?? '');
      if (index >= lines.length) throw new Error(`docs/protocol.md:${start + 1}: unclosed code block`);
      index += 1;
      if (fence[1] === 'json') current.jsonBlocks.push({ value: parseJson(body.join('\n'), start + 2), line: start + 2 });
      continue;
    }
    const heading = /^(#{2,3}) (.+)$/.exec(line);
    if (heading !== null) {
      const level = (heading[1] ?? '').length;
      current = newSection(level, heading[2] ?? '');
      if (level === 2) top.push(current);
      else {
        const parent = top[top.length - 1];
        if (parent === undefined) throw new Error(`docs/protocol.md:${index + 1}: "###" before any "##"`);
        parent.children.push(current);
      }
      index += 1;
      continue;
    }
    if (line.startsWith('|')) {
      const start = index;
      const tableLines: string[] = [];
      while (index < lines.length && (lines[index] ?? '').startsWith('|')) tableLines.push(lines[index++] ?? '');
      current.tables.push(parseTable(tableLines, start + 1));
      continue;
    }
    current.text.push(line);
    index += 1;
  }
  return top.map(freeze);
}

/** The level-2 section with this title; throws when it is missing. */
export function sectionTitled(sections: readonly DocSection[], title: string): DocSection {
  const found = sections.find((section) => section.title === title);
  if (found === undefined) throw new Error(`docs/protocol.md has no "## ${title}" section`);
  return found;
}

/** The children of a section whose heading is a name in backticks, in page order. */
export function namedChildren(section: DocSection): DocSection[] {
  return section.children.filter((child) => child.codeName !== undefined);
}

/** The first table whose header starts with these cells, if any. */
export function tableStartingWith(section: DocSection, ...firstCells: string[]): DocTable | undefined {
  return section.tables.find((table) => firstCells.every((cell, i) => table.header[i] === cell));
}

/** A cell's value as a column of the table: `cell(table, row, 'required')`. */
export function cell(table: DocTable, row: readonly string[], column: string): string {
  const at = table.header.indexOf(column);
  if (at === -1) throw new Error(`docs/protocol.md:${table.line}: table has no "${column}" column`);
  return row[at] ?? '';
}

/** The text of a cell that is exactly one code span ("`path`" → "path"); throws otherwise. */
export function codeSpan(text: string, line: number): string {
  const match = /^`([^`]+)`$/.exec(text);
  if (match?.[1] === undefined) throw new Error(`docs/protocol.md:${line}: expected a name in backticks, got ${JSON.stringify(text)}`);
  return match[1];
}

/** Removes Markdown code-span backticks, so prose can be compared with plain strings. */
export function plain(text: string): string {
  return text.replace(/`/g, '');
}

function newSection(level: number, title: string): MutableSection {
  const codeName = /^`([^`]+)`$/.exec(title)?.[1];
  return { level, title, codeName, text: [], tables: [], jsonBlocks: [], children: [] };
}

function freeze(section: MutableSection): DocSection {
  return {
    level: section.level,
    title: section.title,
    codeName: section.codeName,
    text: section.text.join('\n'),
    tables: section.tables,
    jsonBlocks: section.jsonBlocks,
    children: section.children.map(freeze),
  };
}

function parseJson(text: string, line: number): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`docs/protocol.md:${line}: a json block does not parse: ${(err as Error).message}`);
  }
}

function parseTable(lines: readonly string[], line: number): DocTable {
  const [headerLine, separator, ...body] = lines;
  if (headerLine === undefined || separator === undefined || !/^\|(\s*:?-+:?\s*\|)+$/.test(separator)) {
    throw new Error(`docs/protocol.md:${line}: a table needs a header row and a |---| separator row`);
  }
  const header = splitRow(headerLine).map((text) => text.toLowerCase());
  const rows = body.map((rowLine, i) => {
    const cells = splitRow(rowLine);
    if (cells.length !== header.length) {
      throw new Error(`docs/protocol.md:${line + 2 + i}: row has ${cells.length} cells, header has ${header.length}`);
    }
    return cells;
  });
  return { header, rows, line };
}

/** Cells of "| a | b |"; "\|" is a literal bar inside a cell. */
function splitRow(row: string): string[] {
  const inner = row.trim().replace(/^\|/, '').replace(/\|$/, '');
  return inner.split(/(?<!\\)\|/).map((text) => text.trim().replace(/\\\|/g, '|'));
}
