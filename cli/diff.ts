// Unified diffs (`diff -u` / `git diff` format) of two texts, line by line, with Myers' O((N+M)·D) algorithm
// on what remains after the common head and tail are trimmed (a fix usually touches a few lines of a file).
// Written here rather than taken from npm: about a hundred lines, no dependency to pin and audit, and only
// what the CLI needs (one pair of texts, three lines of context, the "No newline at end of file" marker).

export type Edit = { kind: " " | "-" | "+"; line: string };

/** Past this many lines in the changed middle, the diff is "remove all, add all" instead of minimal. */
const MAX_MIDDLE = 20_000;

/** The shortest edit script turning a into b (Myers 1986, with the trace kept for the walk back). */
function myers(a: string[], b: string[]): Edit[] {
  const n = a.length;
  const m = b.length;
  const max = n + m;
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  let found = false;
  for (let d = 0; d <= max && !found; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1] < v[offset + k + 1])
        ? v[offset + k + 1]
        : v[offset + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) {
        found = true;
        break;
      }
    }
  }
  // Walk back through the trace from (n, m).
  const edits: Edit[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const vd = trace[d];
    const k = x - y;
    const down = k === -d || (k !== d && vd[offset + k - 1] < vd[offset + k + 1]);
    const prevK = down ? k + 1 : k - 1;
    const prevX = vd[offset + prevK];
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      x--;
      y--;
      edits.push({ kind: " ", line: a[x] });
    }
    if (d > 0) {
      if (down) edits.push({ kind: "+", line: b[--y] });
      else edits.push({ kind: "-", line: a[--x] });
    }
  }
  return edits.reverse();
}

/** The edit script from `a` to `b`: common lines, removals and additions, in order. */
export function diffLines(a: string[], b: string[]): Edit[] {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (
    tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]
  ) tail++;
  const midA = a.slice(head, a.length - tail);
  const midB = b.slice(head, b.length - tail);
  const middle = midA.length + midB.length > MAX_MIDDLE
    ? [
      ...midA.map((line) => ({ kind: "-" as const, line })),
      ...midB.map((line) => ({ kind: "+" as const, line })),
    ]
    : myers(midA, midB);
  return [
    ...a.slice(0, head).map((line) => ({ kind: " " as const, line })),
    ...middle,
    ...a.slice(a.length - tail).map((line) => ({ kind: " " as const, line })),
  ];
}

export interface DiffOptions {
  fromFile?: string;
  toFile?: string;
  /** Lines of context around each change (default 3). */
  context?: number;
}

/** Marks a last line without a newline, so that it differs from the same text with one (as in `diff`). */
const NO_EOL = "\u0000no-eol";

function linesOf(text: string): string[] {
  if (text === "") return [];
  const finalNewline = text.endsWith("\n");
  const lines = (finalNewline ? text.slice(0, -1) : text).split("\n");
  if (!finalNewline) lines[lines.length - 1] += NO_EOL;
  return lines;
}

/** A unified diff of two texts; "" when they are equal. */
export function unifiedDiff(before: string, after: string, options: DiffOptions = {}): string {
  if (before === after) return "";
  const context = options.context ?? 3;
  const edits = diffLines(linesOf(before), linesOf(after));
  const out = [`--- ${options.fromFile ?? "a"}`, `+++ ${options.toFile ?? "b"}`];
  // Positions (0-based) of every edit in before and after.
  const pos: { a: number; b: number }[] = [];
  let ia = 0;
  let ib = 0;
  for (const e of edits) {
    pos.push({ a: ia, b: ib });
    if (e.kind !== "+") ia++;
    if (e.kind !== "-") ib++;
  }
  const changed = edits.map((e, i) => (e.kind !== " " ? i : -1)).filter((i) => i >= 0);
  let i = 0;
  while (i < changed.length) {
    const start = Math.max(0, changed[i] - context);
    let end = Math.min(edits.length, changed[i] + context + 1);
    while (i + 1 < changed.length && changed[i + 1] - context <= end) {
      i++;
      end = Math.min(edits.length, changed[i] + context + 1);
    }
    i++;
    const hunk = edits.slice(start, end);
    const countA = hunk.filter((e) => e.kind !== "+").length;
    const countB = hunk.filter((e) => e.kind !== "-").length;
    const startA = countA === 0 ? pos[start].a : pos[start].a + 1;
    const startB = countB === 0 ? pos[start].b : pos[start].b + 1;
    // As diff -u writes ranges: "start,count", or just "start" for a single line.
    const range = (from: number, count: number) => (count === 1 ? `${from}` : `${from},${count}`);
    out.push(`@@ -${range(startA, countA)} +${range(startB, countB)} @@`);
    for (const e of hunk) {
      if (e.line.endsWith(NO_EOL)) {
        out.push(`${e.kind}${e.line.slice(0, -NO_EOL.length)}`, "\\ No newline at end of file");
      } else {
        out.push(`${e.kind}${e.line}`);
      }
    }
  }
  return out.join("\n") + "\n";
}
