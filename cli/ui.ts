// Terminal output: colours (only on a terminal, never with NO_COLOR), a progress bar on stderr (only when
// stderr is a terminal, so logs and pipes stay clean), aligned tables, and a yes/no/all/quit prompt.

const encoder = new TextEncoder();

function isTerminal(stream: { isTerminal(): boolean }): boolean {
  try {
    return stream.isTerminal();
  } catch {
    return false;
  }
}

const colour = isTerminal(Deno.stdout) && !Deno.env.get("NO_COLOR");
const paint = (code: number) => (text: string) => colour ? `\x1b[${code}m${text}\x1b[0m` : text;
export const red = paint(31);
export const green = paint(32);
export const yellow = paint(33);
export const cyan = paint(36);
export const dim = paint(2);
export const bold = paint(1);

/** Colours a unified diff's lines (on a terminal). */
export function paintDiff(diff: string): string {
  return diff.split("\n").map((line) =>
    line.startsWith("+++") || line.startsWith("---")
      ? bold(line)
      : line.startsWith("@@")
      ? cyan(line)
      : line.startsWith("+")
      ? green(line)
      : line.startsWith("-")
      ? red(line)
      : line
  ).join("\n");
}

/** Indents every line of a block. */
export function indent(text: string, by = "  "): string {
  return text.split("\n").map((line) => (line ? by + line : line)).join("\n");
}

/** A one-line progress bar on stderr, redrawn in place; silent unless stderr is a terminal. */
export class Progress {
  readonly enabled: boolean;
  #done = 0;
  #label = "";
  #shown = false;

  constructor(readonly total: number, enabled = isTerminal(Deno.stderr)) {
    this.enabled = enabled && total > 1;
  }

  update(done: number, label = this.#label): void {
    this.#done = done;
    this.#label = label;
    this.#draw();
  }

  #draw(): void {
    if (!this.enabled) return;
    const width = 24;
    const filled = Math.round((this.#done / this.total) * width);
    const columns = (() => {
      try {
        return Deno.consoleSize().columns;
      } catch {
        return 80;
      }
    })();
    const head = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${this.#done}/${this.total} `;
    const label = this.#label.slice(0, Math.max(0, columns - head.length - 1));
    Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${head}${label}`));
    this.#shown = true;
  }

  /** Removes the bar so that other output can be printed; the next update draws it again. */
  clear(): void {
    if (!this.enabled || !this.#shown) return;
    Deno.stderr.writeSync(encoder.encode("\r\x1b[2K"));
    this.#shown = false;
  }

  /** Prints through the bar: clears it, prints, draws it again. */
  print(text: string): void {
    this.clear();
    console.log(text);
    this.#draw();
  }

  done(): void {
    this.clear();
  }
}

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

/** Aligns rows into columns (the first row is the header). */
export function table(rows: string[][]): string {
  const visible = (text: string) => text.replace(ANSI, "").length;
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => visible(row[i] ?? ""))));
  return rows.map((row, r) =>
    row.map((cell, i) => {
      const pad = " ".repeat(Math.max(0, widths[i] - visible(cell)));
      return i === row.length - 1 ? cell : cell + pad;
    }).join("  ").trimEnd() + (r === 0 ? `\n${widths.map((w) => "-".repeat(w)).join("  ")}` : "")
  ).join("\n");
}

export type Answer = "yes" | "no" | "all" | "quit";

/**
 * One line from the terminal. The terminal stays in its normal (canonical) mode, where a read returns at
 * most one line, so answers typed ahead are read one per question; null at end of input.
 */
function readLine(): string | null {
  const buffer = new Uint8Array(4096);
  const n = Deno.stdin.readSync(buffer);
  if (n === null || n === 0) return null;
  return new TextDecoder().decode(buffer.subarray(0, n)).split(/\r?\n/)[0];
}

/** Asks on the terminal; null when stdin is not a terminal (the caller decides what that means). */
export function ask(question: string): Answer | null {
  if (!isTerminal(Deno.stdin)) return null;
  while (true) {
    Deno.stdout.writeSync(encoder.encode(`${question} [y]es / [n]o / [a]ll / [q]uit: `));
    const line = readLine();
    if (line === null) return "quit";
    const reply = line.trim().toLowerCase();
    if (["y", "yes"].includes(reply)) return "yes";
    if (["n", "no", ""].includes(reply)) return "no";
    if (["a", "all"].includes(reply)) return "all";
    if (["q", "quit"].includes(reply)) return "quit";
  }
}

export function stdinIsTerminal(): boolean {
  return isTerminal(Deno.stdin);
}
