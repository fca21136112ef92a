/**
 * Verification of a proposed fix for a TypeScript diagnostic, with the real compiler.
 *
 * A fix is verified when:
 *   - it is not empty and not identical to the input,
 *   - the target diagnostic is present in the original (if it is not, the reason says so
 *     and only the "introduces nothing new" rule is applied),
 *   - the target diagnostic is gone from the fixed code,
 *   - the fixed code has no diagnostic that the original did not have (compared by
 *     code + message as a multiset, ignoring positions, since a fix moves code around),
 *   - the fix does not cheat (see `detectCheats`).
 * Like tsc, a snippet with syntax errors gets no semantic check, so type errors that a syntax
 * fix uncovers count as introduced: the fixed code has to be clean of anything new.
 */
import ts from "typescript";
import { diagnoseSnippet, type Diagnostic } from "./typescript.ts";

export interface VerifyFixInput {
  code: string;
  fixedCode: string;
  /** "TS2322", "2322" or 2322. */
  errorCode: string | number;
  /** Optional message to pick the target among several diagnostics with the same code. */
  errorMessage?: string;
  fileName?: string;
  /** diagnoseSnippet(code) when the caller already has it (saves compiling the original twice). */
  before?: Diagnostic[];
}

export interface VerifyFixResult {
  verified: boolean;
  reason: string;
  before: Diagnostic[];
  after: Diagnostic[];
  /** Diagnostics of the fixed code whose code+message did not occur (as often) in the original. */
  introduced: Diagnostic[];
  /** One entry per cheat kind found, `kind: explanation`. */
  cheats: string[];
}

/** "ts2322" | "2322" | 2322 -> "TS2322" (other input returned trimmed, upper-cased). */
export function normalizeErrorCode(code: string | number): string {
  const text = String(code).trim().toUpperCase();
  const digits = /^(?:TS)?(\d+)$/.exec(text);
  return digits ? `TS${digits[1]}` : text;
}

function squash(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

/** Drops a leading `file.ts(3,7): error TS2322:` / `error TS2322:` prefix from a reported message. */
function stripMessagePrefix(message: string): string {
  return message.replace(/^[^\n]*?\bTS\d+\s*:\s*/i, "");
}

/**
 * True when a reported message and a compiler message describe the same error: equal after
 * whitespace normalisation, equal first lines (the head of a message chain), or one contains
 * the other (a reporter that truncated or prefixed the message).
 */
export function sameMessageFamily(reported: string, actual: string): boolean {
  const r = squash(stripMessagePrefix(reported));
  const a = squash(actual);
  if (!r) return true;
  const rHead = squash(stripMessagePrefix(reported).split("\n")[0]);
  const aHead = squash(actual.split("\n")[0]);
  return r === a || rHead === aHead || a.includes(r) || r.includes(aHead);
}

function diagnosticKey(d: Diagnostic): string {
  return `${d.code}\u0000${squash(d.message)}`;
}

/** Items of `after` not accounted for by `before`, compared by `key` as multisets (counts matter). */
export function introducedBy<T>(before: T[], after: T[], key: (item: T) => string): T[] {
  const budget = new Map<string, number>();
  for (const d of before) budget.set(key(d), (budget.get(key(d)) ?? 0) + 1);
  return after.filter((d) => {
    const left = budget.get(key(d)) ?? 0;
    budget.set(key(d), left - 1);
    return left <= 0;
  });
}

/** Diagnostics of `after` not accounted for by `before`, by code + message (multiset). */
export function introducedDiagnostics(before: Diagnostic[], after: Diagnostic[]): Diagnostic[] {
  return introducedBy(before, after, diagnosticKey);
}

interface CheatCounts {
  any: number;
  nonNull: number;
  nonNullPositions: number[];
  directives: Record<"ts-ignore" | "ts-expect-error" | "ts-nocheck", number>;
}

function countCheatMarkers(code: string, fileName: string): CheatCounts {
  const kind = /\.tsx$/i.test(fileName) ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const sf = ts.createSourceFile(fileName, code, ts.ScriptTarget.ES2022, true, kind);
  const counts: CheatCounts = {
    any: 0,
    nonNull: 0,
    nonNullPositions: [],
    directives: { "ts-ignore": 0, "ts-expect-error": 0, "ts-nocheck": 0 },
  };
  const commentStarts = new Set<number>();
  const collectComments = (ranges: ts.CommentRange[] | undefined) => {
    for (const range of ranges ?? []) {
      if (commentStarts.has(range.pos)) continue;
      commentStarts.add(range.pos);
      // A directive is a comment line that starts with it (after //, /*, * and spaces), as the
      // compiler reads them; a mere mention inside a sentence does not count.
      for (const line of code.slice(range.pos, range.end).split("\n")) {
        const m = /^[\s/*]*@ts-(ignore|expect-error|nocheck)\b/.exec(line);
        if (m) counts.directives[`ts-${m[1]}` as keyof CheatCounts["directives"]]++;
      }
    }
  };
  const visit = (node: ts.Node) => {
    // Comments are trivia: every comment is leading trivia at some node's pos or end, or trailing at an end.
    collectComments(ts.getLeadingCommentRanges(code, node.pos));
    collectComments(ts.getLeadingCommentRanges(code, node.end));
    collectComments(ts.getTrailingCommentRanges(code, node.end));
    if (node.kind === ts.SyntaxKind.AnyKeyword) counts.any++;
    if (ts.isNonNullExpression(node)) {
      counts.nonNull++;
      counts.nonNullPositions.push(node.end - 1);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  collectComments(ts.getLeadingCommentRanges(code, sf.endOfFileToken.pos));
  return counts;
}

const withoutWhitespace = (text: string) => text.replace(/\s+/g, "");

/**
 * Cheats: ways to make the compiler quiet without fixing anything.
 *
 *  - `any`: more `any` type annotations than the original (`: any`, `as any`, `<any>`, `any[]`,
 *    `Record<string, any>` …; counted on the AST, so "any" in strings/comments does not count).
 *  - `ts-ignore`, `ts-expect-error`, `ts-nocheck`: more of these comment directives than before.
 *  - `non-null-only`: the fix adds non-null assertions (`x!`) and that is its ONLY change.
 *    Policy: `!` is a legitimate tool when the author knows more than the compiler and often
 *    appears next to a real change (a guard, a default, a narrowed type), so it is not banned
 *    outright; but a fix that does nothing except sprinkle `!` over a TS2531/TS2532/TS18047/
 *    TS18048 site just asserts the error away, and that is what an automated fixer must not
 *    get credit for.
 */
export function detectCheats(code: string, fixedCode: string, fileName = "snippet.ts"): string[] {
  const before = countCheatMarkers(code, fileName);
  const after = countCheatMarkers(fixedCode, fileName);
  const cheats: string[] = [];
  if (after.any > before.any) {
    cheats.push(`any: adds ${after.any - before.any} 'any' type annotation(s) that silence the checker`);
  }
  for (const directive of ["ts-ignore", "ts-expect-error", "ts-nocheck"] as const) {
    if (after.directives[directive] > before.directives[directive]) {
      cheats.push(`${directive}: adds a @${directive} comment instead of fixing the code`);
    }
  }
  if (after.nonNull > before.nonNull) {
    const drop = new Set(after.nonNullPositions);
    const stripped = fixedCode.split("").filter((_, i) => !drop.has(i)).join("");
    // Compare with every original `!` removed too, so pre-existing assertions don't matter.
    const beforeDrop = new Set(before.nonNullPositions);
    const original = code.split("").filter((_, i) => !beforeDrop.has(i)).join("");
    if (withoutWhitespace(stripped) === withoutWhitespace(original)) {
      cheats.push(
        "non-null-only: the only change is adding non-null assertions (!) instead of handling null",
      );
    }
  }
  return cheats;
}

function isEmptyCode(code: string, fileName: string): boolean {
  if (code.trim() === "") return true;
  const sf = ts.createSourceFile(fileName, code, ts.ScriptTarget.ES2022, false);
  return sf.statements.length === 0;
}

function list(diagnostics: Diagnostic[]): string {
  const one = (d: Diagnostic) => `${d.code} at ${d.line}:${d.column} (${d.message.split("\n")[0]})`;
  return diagnostics.map(one).join("; ");
}

export function verifyFix(input: VerifyFixInput): VerifyFixResult {
  const fileName = input.fileName ?? "snippet.ts";
  const errorCode = normalizeErrorCode(input.errorCode);
  const before = input.before ?? diagnoseSnippet(input.code, { fileName });
  const after = diagnoseSnippet(input.fixedCode, { fileName });
  const introduced = introducedDiagnostics(before, after);
  const cheats = detectCheats(input.code, input.fixedCode, fileName);
  const result = (verified: boolean, reason: string): VerifyFixResult => ({
    verified,
    reason,
    before,
    after,
    introduced,
    cheats,
  });

  if (isEmptyCode(input.fixedCode, fileName)) return result(false, "fix is empty");
  if (input.fixedCode.trim() === input.code.trim()) {
    return result(false, "fix is identical to the original code");
  }

  const sameCode = before.filter((d) => d.code === errorCode);
  let targets = sameCode;
  let note = "";
  const wanted = input.errorMessage;
  if (wanted && sameCode.length > 0) {
    const byMessage = sameCode.filter((d) => sameMessageFamily(wanted, d.message));
    if (byMessage.length > 0) targets = byMessage;
    else note = ` (no ${errorCode} with the given message; matched by code)`;
  }

  const problems: string[] = [];
  if (cheats.length > 0) problems.push(`fix cheats: ${cheats.join("; ")}`);
  const remaining = after.filter((d) =>
    d.code === errorCode && targets.some((t) => sameMessageFamily(t.message, d.message))
  );
  if (targets.length > 0 && remaining.length > 0) {
    problems.push(`${errorCode} is still reported: ${list(remaining)}`);
  }
  if (introduced.length > 0) problems.push(`fix introduces new diagnostics: ${list(introduced)}`);

  if (targets.length === 0) {
    const head =
      `${errorCode} is not reported for the original code, so only checked that the fix introduces nothing new`;
    return problems.length > 0 ? result(false, `${head}; ${problems.join("; ")}`) : result(true, head);
  }
  if (problems.length > 0) return result(false, problems.join("; "));
  const rest = after.length > 0 ? `; ${after.length} pre-existing diagnostic(s) remain` : "";
  return result(true, `${errorCode} fixed${note}: no new diagnostics, no cheats${rest}`);
}
