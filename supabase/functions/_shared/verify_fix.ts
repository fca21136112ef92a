/**
 * Verification of a proposed fix for a TypeScript diagnostic: "verified" means the user's error is fixed and
 * the rest of the user's code is kept. Every rule has a name, and the result lists each one with its verdict,
 * so whoever reads `verification.rules` sees why a fix was refused:
 *
 *   reproduces          the error is reported for the given code (an error that does not reproduce is never
 *                       verified: nothing would show that the fix fixes it)
 *   changed             the fix is not empty and not the original
 *   error-gone          the target diagnostic is gone from the fixed code
 *   nothing-new         no diagnostic the original did not have (code + message, as a multiset: positions move)
 *   no-suppression      no new @ts-ignore / @ts-expect-error / @ts-nocheck
 *   no-any              no new `any` written in the code (`: any`, `as any`, `<any>`, `any[]` …)
 *   no-unsafe-cast      no new cast through `unknown`, `never` or `any` (`x as unknown as T`, `undefined as never`)
 *   no-implicit-any     no new expression or declaration typed `any` (`JSON.parse(…)`, `await res.json()` …)
 *   no-bare-non-null    the change is not only `!` assertions (`x!`, `x!: T`) over a null error
 *   declarations-kept   every top-level declaration and export of the original still exists with the same
 *                       declared type (the checker's), except those of the error's region, whose type may
 *                       change (and which may go only where removing is the fix, see below)
 *   statements-kept     no statement (at any depth; class and interface members too) removed, commented out or
 *                       stubbed (a body replaced by a `throw`, an empty body, `return undefined as never`),
 *                       except inside the region for the error classes whose fix is a removal (REMOVAL_FIXES)
 *                       and for syntax errors, where the parser's recovery is what gets rewritten
 *   within-region       the edit stays within the error's region: the top-level statement holding the error
 *                       (for a class, its member), plus the declarations the error refers to (the symbol at the
 *                       error, the type whose property it names, the function it calls, top-level names quoted
 *                       in the message). Bound: outside it, no original statement changes and at most
 *                       MAX_LINES_ADDED_OUTSIDE_REGION (20) lines are added (a missing import, a small type).
 *
 * Cost: the original and the fix are each compiled once by the request's SnippetService (pass it in to share
 * the original's compilation with the caller); the rules read those two programs.
 */
import ts from "typescript";
import {
  anyExpressions,
  compareStatements,
  declarationShapes,
  describeNode,
  errorRegion,
  isInRegion,
  keyOf,
  MAX_LINES_ADDED_OUTSIDE_REGION,
  type Region,
} from "./fix_structure.ts";
import { type CheckedSnippet, SnippetService } from "./ts_service.ts";
import type { Diagnostic } from "./typescript.ts";

export type RuleName =
  | "reproduces"
  | "changed"
  | "error-gone"
  | "nothing-new"
  | "no-suppression"
  | "no-any"
  | "no-unsafe-cast"
  | "no-implicit-any"
  | "no-bare-non-null"
  | "declarations-kept"
  | "statements-kept"
  | "within-region";

export interface RuleCheck {
  rule: RuleName;
  passed: boolean;
  /** Why it passed or failed, in a sentence. */
  detail: string;
}

export interface VerifyFixInput {
  code: string;
  fixedCode: string;
  /** "TS2322", "2322" or 2322. */
  errorCode: string | number;
  /** Optional message to pick the target among several diagnostics with the same code. */
  errorMessage?: string;
  fileName?: string;
  /** The request's service: the original is compiled once for every candidate (and for the caller). */
  service?: SnippetService;
}

export interface VerifyFixResult {
  verified: boolean;
  /** The failed rules' details (or what was fixed), in one line. */
  reason: string;
  /** Every rule, in the order above, passed or not. */
  rules: RuleCheck[];
  before: Diagnostic[];
  after: Diagnostic[];
  /** Diagnostics of the fixed code whose code+message did not occur (as often) in the original. */
  introduced: Diagnostic[];
  /** One entry per way of silencing the checker or losing code found, `kind: explanation`. */
  cheats: string[];
  /** The original's diagnostic the fix is for, or null when it does not reproduce. */
  target: Diagnostic | null;
  /** The part of the original the fix may change ("line 6: export const order…"), or null. */
  region: string | null;
}

/**
 * Error classes whose fix may remove the statement the error is about: duplicates (keep one), an import of a
 * module that cannot be found (replaced by something that exists), unused declarations, unreachable code.
 */
export const REMOVAL_FIXES = new Set([
  "TS2300", // Duplicate identifier
  "TS2307", // Cannot find module
  "TS2308", // Module has already exported a member named …
  "TS2323", // Cannot redeclare exported variable
  "TS2393", // Duplicate function implementation
  "TS2440", // Import declaration conflicts with local declaration
  "TS2451", // Cannot redeclare block-scoped variable
  "TS2528", // A module cannot have multiple default exports
  "TS6133", // '…' is declared but its value is never read
  "TS6138", // Property '…' is declared but its value is never read
  "TS6192", // All imports in import declaration are unused
  "TS6196", // '…' is declared but never used
  "TS6198", // All destructured elements are unused
  "TS7027", // Unreachable code detected
]);

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

// ---------------------------------------------------------------------------------------------------------
// Markers written in the code (counted on the AST: "any" in a string or a prose comment does not count)

type Directive = "ts-ignore" | "ts-expect-error" | "ts-nocheck";

interface Markers {
  any: number;
  /** Casts through unknown / never / any, by the cast's tokens. */
  casts: string[];
  /** `x!` and `x!: T` (definite assignment), with the positions of the `!` to strip them. */
  bangs: number[];
  directives: Record<Directive, number>;
}

function markersOf(sf: ts.SourceFile): Markers {
  const code = sf.text;
  const markers: Markers = {
    any: 0,
    casts: [],
    bangs: [],
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
        if (m) markers.directives[`ts-${m[1]}` as Directive]++;
      }
    }
  };
  const blind = [ts.SyntaxKind.UnknownKeyword, ts.SyntaxKind.NeverKeyword, ts.SyntaxKind.AnyKeyword];
  const visit = (node: ts.Node) => {
    // Comments are trivia: every comment is leading trivia at some node's pos or end, or trailing at an end.
    collectComments(ts.getLeadingCommentRanges(code, node.pos));
    collectComments(ts.getLeadingCommentRanges(code, node.end));
    collectComments(ts.getTrailingCommentRanges(code, node.end));
    if (node.kind === ts.SyntaxKind.AnyKeyword) markers.any++;
    if ((ts.isAsExpression(node) || ts.isTypeAssertionExpression(node)) && blind.includes(node.type.kind)) {
      markers.casts.push(node.getText(sf).replace(/\s+/g, " "));
    }
    if (ts.isNonNullExpression(node)) markers.bangs.push(node.end - 1);
    const exclamation = (node as { exclamationToken?: ts.Node }).exclamationToken;
    if (exclamation) markers.bangs.push(exclamation.getStart(sf));
    ts.forEachChild(node, visit);
  };
  visit(sf);
  collectComments(ts.getLeadingCommentRanges(code, sf.endOfFileToken.pos));
  return markers;
}

const withoutWhitespace = (text: string) => text.replace(/\s+/g, "");
const strip = (text: string, positions: number[]) => {
  const drop = new Set(positions);
  return text.split("").filter((_, i) => !drop.has(i)).join("");
};

interface MarkerRules {
  suppression: string[];
  any: string[];
  cast: string[];
  nonNull: string[];
}

function markerRules(original: ts.SourceFile, fixed: ts.SourceFile): MarkerRules {
  const before = markersOf(original);
  const after = markersOf(fixed);
  const rules: MarkerRules = { suppression: [], any: [], cast: [], nonNull: [] };
  if (after.any > before.any) {
    rules.any.push(`any: adds ${after.any - before.any} 'any' type annotation(s) that silence the checker`);
  }
  for (const directive of ["ts-ignore", "ts-expect-error", "ts-nocheck"] as const) {
    if (after.directives[directive] > before.directives[directive]) {
      rules.suppression.push(`${directive}: adds a @${directive} comment instead of fixing the code`);
    }
  }
  const newCasts = introducedBy(before.casts, after.casts, (c) => c);
  if (newCasts.length > 0) {
    rules.cast.push(
      `cast: casts through unknown/never/any hide the type from the checker: ${
        newCasts.slice(0, 3).map((c) => `\`${c.length > 60 ? `${c.slice(0, 57)}…` : c}\``).join(", ")
      }`,
    );
  }
  if (after.bangs.length > before.bangs.length) {
    // Compare with every original `!` removed too, so pre-existing assertions don't matter.
    if (
      withoutWhitespace(strip(fixed.text, after.bangs)) ===
        withoutWhitespace(strip(original.text, before.bangs))
    ) {
      rules.nonNull.push(
        "non-null-only: the only change is adding non-null assertions (!) instead of handling null",
      );
    }
  }
  return rules;
}

/**
 * The ways a fix silences the checker that can be seen in the text alone (`any`, casts through
 * unknown/never/any, suppression comments, `!` as the only change), as `kind: explanation`.
 *
 * Policy on `!`: it is a legitimate tool when the author knows more than the compiler and often appears next
 * to a real change (a guard, a default, a narrowed type), so it is not banned outright; but a fix that does
 * nothing except sprinkle `!` over a TS2531/TS2532/TS18047/TS18048/TS2564 site just asserts the error away.
 */
export function detectCheats(code: string, fixedCode: string, fileName = "snippet.ts"): string[] {
  const kind = /\.tsx$/i.test(fileName) ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const parse = (text: string) => ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true, kind);
  const r = markerRules(parse(code), parse(fixedCode));
  return [...r.any, ...r.suppression, ...r.cast, ...r.nonNull];
}

function list(diagnostics: Diagnostic[]): string {
  const one = (d: Diagnostic) => `${d.code} at ${d.line}:${d.column} (${d.message.split("\n")[0]})`;
  return diagnostics.map(one).join("; ");
}

function clipList(items: string[], max = 3): string {
  return items.slice(0, max).join("; ") + (items.length > max ? ` and ${items.length - max} more` : "");
}

/** The original's diagnostic a fix of `errorCode` (and `errorMessage`) is for, if it reproduces. */
export function findTarget(
  before: Diagnostic[],
  errorCode: string | number,
  errorMessage?: string,
): { target: Diagnostic | null; sameFamily: Diagnostic[]; note: string } {
  const code = normalizeErrorCode(errorCode);
  const sameCode = before.filter((d) => d.code === code);
  if (!errorMessage || sameCode.length === 0) {
    return { target: sameCode[0] ?? null, sameFamily: sameCode, note: "" };
  }
  const byMessage = sameCode.filter((d) => sameMessageFamily(errorMessage, d.message));
  if (byMessage.length > 0) return { target: byMessage[0], sameFamily: byMessage, note: "" };
  return {
    target: sameCode[0],
    sameFamily: sameCode,
    note: ` (no ${code} with the given message; matched by code)`,
  };
}

function declarationRule(
  original: CheckedSnippet,
  fixed: CheckedSnippet,
  region: Region | null,
  removalAllowed: boolean,
): RuleCheck {
  const before = declarationShapes(original);
  const after = declarationShapes(fixed);
  // A declaration the fix left as it was, whose type follows from a region name it uses, may change type too.
  const unchanged = new Set(fixed.sourceFile.statements.map(keyOf));
  const follows = (node: ts.Node) =>
    region !== null && unchanged.has(keyOf(node)) && keyOf(node).split(" ").some((t) => region.names.has(t));
  const problems: string[] = [];
  for (const [key, decl] of before) {
    const exempt = region !== null && (region.names.has(decl.name) || isInRegion(decl.node, region));
    const now = after.get(key);
    if (!now) {
      if (!(exempt && removalAllowed)) problems.push(`\`${key}\` is gone`);
    } else if (now.shape !== decl.shape && !exempt && !follows(decl.node)) {
      problems.push(`\`${key}\` changed type from \`${decl.shape}\` to \`${now.shape}\``);
    }
  }
  return problems.length === 0
    ? {
      rule: "declarations-kept",
      passed: true,
      detail: `all ${before.size} top-level declarations and exports kept${
        region?.names.size ? ` (the region's ${[...region.names].join(", ")} may change type)` : ""
      }`,
    }
    : {
      rule: "declarations-kept",
      passed: false,
      detail: `declarations lost or changed: ${clipList(problems)}`,
    };
}

export function verifyFix(input: VerifyFixInput): VerifyFixResult {
  const service = input.service ?? new SnippetService(input.fileName ?? "snippet.ts");
  const errorCode = normalizeErrorCode(input.errorCode);
  const original = service.check(input.code);
  const fixed = service.check(input.fixedCode);
  const before = original.diagnostics;
  const after = fixed.diagnostics;
  const introduced = introducedDiagnostics(before, after);
  const { target, sameFamily, note } = findTarget(before, errorCode, input.errorMessage);
  const rules: RuleCheck[] = [];
  const rule = (name: RuleName, problems: string[], ok: string) =>
    rules.push({
      rule: name,
      passed: problems.length === 0,
      detail: problems.length ? problems.join("; ") : ok,
    });

  rule(
    "reproduces",
    target ? [] : [`${errorCode} is not reported for the given code, so nothing shows that the fix fixes it`],
    `${errorCode} is reported at ${target?.line}:${target?.column}${note}`,
  );
  const empty = input.fixedCode.trim() === "" || fixed.sourceFile.statements.length === 0;
  rule(
    "changed",
    empty
      ? ["fix is empty"]
      : input.fixedCode.trim() === input.code.trim()
      ? ["fix is identical to the original code"]
      : [],
    "the fix changes the code",
  );
  const remaining = after.filter((d) =>
    d.code === errorCode && sameFamily.some((t) => sameMessageFamily(t.message, d.message))
  );
  rule(
    "error-gone",
    remaining.length > 0 ? [`${errorCode} is still reported: ${list(remaining)}`] : [],
    `${errorCode} is gone`,
  );
  rule(
    "nothing-new",
    introduced.length > 0 ? [`fix introduces new diagnostics: ${list(introduced)}`] : [],
    after.length > 0
      ? `nothing new; ${after.length} pre-existing diagnostic(s) remain`
      : "no diagnostics left",
  );
  const markers = markerRules(original.sourceFile, fixed.sourceFile);
  rule("no-suppression", markers.suppression, "no @ts-ignore, @ts-expect-error or @ts-nocheck added");
  rule("no-any", markers.any, "no `any` added");
  rule("no-unsafe-cast", markers.cast, "no cast through unknown, never or any added");
  const newAny = introducedBy(anyExpressions(original), anyExpressions(fixed), (k) => k);
  rule(
    "no-implicit-any",
    newAny.length > 0
      ? [
        `implicit-any: new code typed \`any\` that the checker cannot check: ${
          clipList(newAny.map((k) => `\`${k.length > 60 ? `${k.slice(0, 57)}…` : k}\``))
        }`,
      ]
      : [],
    "no new expression or declaration typed any",
  );
  rule("no-bare-non-null", markers.nonNull, "not only non-null assertions");

  const region = target ? errorRegion(original, target) : null;
  const syntaxError = before.some((d) => d.numericCode < 2000);
  const removalAllowed = REMOVAL_FIXES.has(errorCode) || syntaxError;
  rules.push(declarationRule(original, fixed, region, removalAllowed));
  const statements = compareStatements(
    original,
    fixed,
    region ?? { units: new Set(), names: new Set(), description: "", errorStatement: null },
  );
  const removed = statements.removed.filter((u) => !(removalAllowed && region && isInRegion(u, region)));
  const lost: string[] = [];
  if (removed.length) lost.push(`removed: ${clipList(removed.map(describeNode))}`);
  if (statements.commentedOut.length) {
    lost.push(`commented-out: ${clipList(statements.commentedOut.map(describeNode))}`);
  }
  if (statements.stubbed.length) {
    lost.push(
      `stubbed: the body of ${clipList(statements.stubbed.map((n) => `\`${n}\``))} replaced by a stub`,
    );
  }
  rule("statements-kept", lost, "no statement removed, commented out or stubbed");
  const outside: string[] = [];
  if (statements.changedOutside.length) {
    outside.push(
      `changes code outside the error's region: ${clipList(statements.changedOutside.map(describeNode))}`,
    );
  }
  if (statements.linesAddedOutside > MAX_LINES_ADDED_OUTSIDE_REGION) {
    outside.push(
      `adds ${statements.linesAddedOutside} lines outside the error's region (at most ${MAX_LINES_ADDED_OUTSIDE_REGION})`,
    );
  }
  rule(
    "within-region",
    region ? outside : ["no region: the error is not reported for the given code"],
    `the edit stays within ${region?.description || "the error's region"}`,
  );

  const failed = rules.filter((r) => !r.passed);
  const cheats = [
    ...markers.any,
    ...markers.suppression,
    ...markers.cast,
    ...markers.nonNull,
    ...rules.filter((r) => !r.passed && r.rule === "no-implicit-any").map((r) => r.detail),
    ...lost,
    ...outside.map((o) => `outside-region: ${o}`),
    ...rules.filter((r) => !r.passed && r.rule === "declarations-kept").map((r) =>
      `declarations: ${r.detail}`
    ),
  ];
  const reason = failed.length === 0
    ? `${errorCode} fixed${note}: every rule passed (${rules.length})${
      after.length ? `; ${after.length} pre-existing diagnostic(s) remain` : ""
    }`
    : failed.map((r) => `${r.rule}: ${r.detail}`).join("; ");
  return {
    verified: failed.length === 0,
    reason,
    rules,
    before,
    after,
    introduced,
    cheats,
    target,
    region: region?.description ?? null,
  };
}
