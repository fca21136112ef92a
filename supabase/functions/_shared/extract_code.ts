/**
 * Pulls the code out of an LLM reply.
 *
 * Fenced blocks (``` or ~~~, any length >= 3) are preferred: the first block tagged as
 * TypeScript (ts, typescript, tsx, mts, cts) wins, else the first untagged or JavaScript
 * block. Blocks tagged with another language (json, bash, diff, …) are never returned.
 * An unterminated fence (a truncated reply) runs to the end of the reply.
 * Without any fence, the reply itself is returned when it looks like code, after dropping
 * leading/trailing prose lines such as "Here is the fixed code:".
 */

interface Block {
  lang: string;
  body: string;
}

const TS_LANGS = new Set(["ts", "typescript", "tsx", "mts", "cts"]);
const PLAIN_LANGS = new Set(["", "js", "javascript", "jsx", "mjs", "cjs"]);

function fencedBlocks(reply: string): Block[] {
  const lines = reply.split(/\r?\n/);
  const blocks: Block[] = [];
  let open: { marker: string; lang: string; body: string[] } | undefined;
  for (const line of lines) {
    if (!open) {
      const m = /^\s*(`{3,}|~{3,})\s*([^\s`{:]*)/.exec(line);
      if (m) open = { marker: m[1], lang: m[2].toLowerCase(), body: [] };
      continue;
    }
    const close = /^\s*(`{3,}|~{3,})\s*$/.exec(line);
    if (close && close[1][0] === open.marker[0] && close[1].length >= open.marker.length) {
      blocks.push({ lang: open.lang, body: open.body.join("\n") });
      open = undefined;
    } else {
      open.body.push(line);
    }
  }
  if (open) blocks.push({ lang: open.lang, body: open.body.join("\n") });
  return blocks;
}

const CODE_LINE = new RegExp(
  [
    String.raw`[;{}=]|=>`, // statements, blocks, assignments, arrows
    String.raw`[,(\[]\s*$`, // a line continued on the next one (arguments, object members)
    String.raw`^\s*[)\].]`, // closing brackets, method chains
    String.raw`^\s*[\w$.]+\(.*\)\s*$`, // a bare call: main()
    String
      .raw`^\s*(import|export|const|let|var|function|class|interface|type|enum|return|if|else|for|while|switch|case|async|await|declare|namespace|try|catch|throw)\b`,
    String.raw`^\s*(\/\/|\/\*|\*)`, // comments
  ].join("|"),
);

function isCodeLine(line: string): boolean {
  return CODE_LINE.test(line);
}

function trimBlankLines(text: string): string {
  return text.replace(/^(?:[ \t]*\r?\n)+/, "").replace(/\s+$/, "");
}

function codeFromUnfenced(reply: string): string | null {
  const lines = reply.split(/\r?\n/);
  let start = 0;
  let end = lines.length;
  const isProse = (line: string) => line.trim() !== "" && !isCodeLine(line);
  while (start < end && (lines[start].trim() === "" || isProse(lines[start]))) start++;
  while (end > start && (lines[end - 1].trim() === "" || isProse(lines[end - 1]))) end--;
  const body = lines.slice(start, end);
  const nonEmpty = body.filter((l) => l.trim() !== "");
  if (nonEmpty.length === 0) return null;
  const codeLike = nonEmpty.filter(isCodeLine).length;
  return codeLike / nonEmpty.length >= 0.8 ? trimBlankLines(body.join("\n")) : null;
}

/** The code in an LLM reply, without fences, or null when there is none. */
export function extractCode(reply: string): string | null {
  if (!reply || reply.trim() === "") return null;
  const blocks = fencedBlocks(reply).filter((b) => b.body.trim() !== "");
  if (blocks.length > 0 || /^\s*(`{3,}|~{3,})/m.test(reply)) {
    const best = blocks.find((b) => TS_LANGS.has(b.lang)) ?? blocks.find((b) => PLAIN_LANGS.has(b.lang));
    return best ? trimBlankLines(best.body) : null;
  }
  return codeFromUnfenced(reply);
}
