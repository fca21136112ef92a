/**
 * A past fix adapted to the user's code, without an LLM: the edit the past fix made (its changed tokens, with
 * one or two tokens of context) becomes a pattern in which names and literals are placeholders, the pattern is
 * looked for in the user's code nearest to the error, and the past fix's new tokens are written there with the
 * user's names and literals put back. A string literal that became a number (`"42"` → `42`) carries its
 * content over. Nothing here decides whether the result is right: every candidate goes through verifyFix.
 *
 *   adaptPastFix({ code_snippet: 'const u: User = { id: "42" };', suggested_fix: "… { id: 42 } …" },
 *                userCode, diagnostic)  →  ['… { id: 7, total: 42 } …']   (candidates, nearest match first)
 */
import ts from "typescript";
import type { Diagnostic } from "./typescript.ts";

interface Token {
  kind: ts.SyntaxKind;
  text: string;
  start: number;
  end: number;
}

/** Tokens of a changed span longer than this are not a local edit: no pattern is made of them. */
const MAX_CHANGED_TOKENS = 40;
/** Matches tried per past fix, nearest to the error first. */
const MAX_MATCHES = 2;

function tokenize(text: string): Token[] {
  const scanner = ts.createScanner(ts.ScriptTarget.Latest, true, ts.LanguageVariant.Standard, text);
  const out: Token[] = [];
  for (let kind = scanner.scan(); kind !== ts.SyntaxKind.EndOfFileToken; kind = scanner.scan()) {
    out.push({
      kind,
      text: scanner.getTokenText(),
      start: scanner.getTokenStart(),
      end: scanner.getTokenEnd(),
    });
  }
  return out;
}

const isName = (t: Token) => t.kind === ts.SyntaxKind.Identifier;
const isString = (t: Token) =>
  t.kind === ts.SyntaxKind.StringLiteral || t.kind === ts.SyntaxKind.NoSubstitutionTemplateLiteral;
const isNumber = (t: Token) => t.kind === ts.SyntaxKind.NumericLiteral;
/** Tokens that stand for whatever the user wrote in their place. */
const isHole = (t: Token) => isName(t) || isString(t) || isNumber(t);
const inner = (t: Token) => t.text.slice(1, -1);

interface Edit {
  /** The past code's tokens the pattern is made of (changed span plus context). */
  pattern: Token[];
  /** The past fix's text for that span, and its tokens. */
  replacementText: string;
  replacement: Token[];
  /** Offset of the replacement text in the past fix. */
  replacementStart: number;
}

/** The past fix's edit as a pattern, with `left`/`right` tokens of context; null when it is not local. */
function editOf(before: Token[], after: Token[], fixText: string, left: number, right: number): Edit | null {
  let head = 0;
  while (head < before.length && head < after.length && before[head].text === after[head].text) head++;
  let tail = 0;
  while (
    tail < before.length - head && tail < after.length - head &&
    before[before.length - 1 - tail].text === after[after.length - 1 - tail].text
  ) tail++;
  const changedBefore = before.length - head - tail;
  const changedAfter = after.length - head - tail;
  if (changedBefore + changedAfter === 0 || Math.max(changedBefore, changedAfter) > MAX_CHANGED_TOKENS) {
    return null;
  }
  const from = Math.max(0, head - left);
  const toBefore = Math.min(before.length, before.length - tail + right);
  const toAfter = Math.min(after.length, after.length - tail + right);
  const pattern = before.slice(from, toBefore);
  const replacement = after.slice(from, toAfter);
  if (pattern.length === 0 || replacement.length === 0) return null;
  const replacementStart = replacement[0].start;
  return {
    pattern,
    replacement,
    replacementText: fixText.slice(replacementStart, replacement[replacement.length - 1].end),
    replacementStart,
  };
}

/** Binds the pattern at `at` in the user's tokens: past token text → the user's token, or null. */
function match(pattern: Token[], user: Token[], at: number): Map<string, Token> | null {
  if (at + pattern.length > user.length) return null;
  const bound = new Map<string, Token>();
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    const u = user[at + i];
    if (isHole(p)) {
      const sameClass = (isName(p) && isName(u)) || (isString(p) && isString(u)) ||
        (isNumber(p) && isNumber(u));
      if (!sameClass) return null;
      const previous = bound.get(p.text);
      if (previous && previous.text !== u.text) return null;
      bound.set(p.text, u);
    } else if (p.text !== u.text) return null;
  }
  return bound;
}

/** The replacement text with the user's names and literals put in place of the past ones. */
function render(edit: Edit, bound: Map<string, Token>): string {
  const contents = new Map<string, string>(); // a past string's content → the user's string's content
  for (const [past, u] of bound) {
    if (isString(u) && past.length >= 2) contents.set(inner({ text: past } as Token), inner(u));
  }
  let out = "";
  let cursor = edit.replacementStart;
  for (const t of edit.replacement) {
    let text = t.text;
    const user = bound.get(t.text);
    if (user && isHole(t)) text = user.text;
    else if (isNumber(t) && contents.has(t.text)) text = contents.get(t.text)!;
    else if (isString(t) && contents.has(inner(t))) {
      text = `${t.text[0]}${contents.get(inner(t))}${t.text[0]}`;
    }
    out += edit.replacementText.slice(cursor - edit.replacementStart, t.start - edit.replacementStart) + text;
    cursor = t.end;
  }
  return out;
}

/** Candidate fixes of the user's code made from one past fix, nearest to the error first (at most a few). */
export function adaptPastFix(
  past: { code_snippet: string; suggested_fix: string },
  code: string,
  target: Pick<Diagnostic, "start" | "length">,
): string[] {
  const before = tokenize(past.code_snippet);
  const after = tokenize(past.suggested_fix);
  const user = tokenize(code);
  const errorAt = target.start;
  const candidates: string[] = [];
  for (const [left, right] of [[2, 1], [1, 1], [2, 0], [1, 0], [0, 1], [0, 0]]) {
    const edit = editOf(before, after, past.suggested_fix, left, right);
    if (!edit) continue;
    const found: Array<{ distance: number; at: number; bound: Map<string, Token> }> = [];
    for (let at = 0; at < user.length; at++) {
      const bound = match(edit.pattern, user, at);
      if (!bound) continue;
      const start = user[at].start;
      const end = user[at + edit.pattern.length - 1].end;
      const distance = errorAt < start ? start - errorAt : errorAt > end ? errorAt - end : 0;
      found.push({ distance, at, bound });
    }
    for (const { at, bound } of found.sort((a, b) => a.distance - b.distance).slice(0, MAX_MATCHES)) {
      const start = user[at].start;
      const end = user[at + edit.pattern.length - 1].end;
      const candidate = code.slice(0, start) + render(edit, bound) + code.slice(end);
      if (candidate !== code && !candidates.includes(candidate)) candidates.push(candidate);
    }
    if (candidates.length >= MAX_MATCHES) break;
  }
  return candidates.slice(0, MAX_MATCHES);
}
