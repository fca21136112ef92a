/**
 * What a fix kept of the user's code, read from the compiler's trees and type checker (verify_fix.ts turns
 * these into named rules):
 *
 *  - `declarationShapes`: every top-level declaration and export with its declared type, as the checker
 *    prints it (properties, signatures, index signatures; parameter names ignored);
 *  - `errorRegion`: the part of the original a fix of one diagnostic may change — the top-level statement
 *    holding the error (for a class, the member holding it) and the declarations the error refers to (the
 *    symbol at the error, the type whose property it names, the function it calls, top-level names quoted
 *    in the message);
 *  - `compareStatements`: statements (at every depth, class and interface members included) of the original
 *    that the fix removed, commented out or stubbed, original statements changed outside the region, and
 *    lines added outside it;
 *  - `anyExpressions`: expressions and declarations whose type is `any` without an `any` written in the code
 *    (calls, property and element accesses, `await`, un-annotated declarations), keyed by their tokens.
 *
 * Statements are compared by their tokens (whitespace and comments do not count): first in order (longest
 * common subsequence per statement list), then anywhere in the fixed file (a statement moved or wrapped in a
 * guard is kept), then a changed statement is paired with one of the same kind (same name first, else the most
 * similar) and its own statements compared the same way. What is left unpaired was removed.
 */
import ts from "typescript";
import type { CheckedSnippet } from "./ts_service.ts";
import type { Diagnostic } from "./typescript.ts";

// ---------------------------------------------------------------------------------------------------------
// Tokens

const scanner = ts.createScanner(ts.ScriptTarget.Latest, true);
const keys = new WeakMap<ts.Node, string>();

function tokens(text: string, start: number, end: number, variant: ts.LanguageVariant): string[] {
  scanner.setLanguageVariant(variant);
  scanner.setText(text, start, end - start);
  const out: string[] = [];
  for (let kind = scanner.scan(); kind !== ts.SyntaxKind.EndOfFileToken; kind = scanner.scan()) {
    out.push(scanner.getTokenText());
  }
  scanner.setText("");
  return out;
}

/** A node's tokens joined by single spaces: its identity when whitespace and comments do not matter. */
export function keyOf(node: ts.Node): string {
  let key = keys.get(node);
  if (key === undefined) {
    const sf = node.getSourceFile();
    key = tokens(sf.text, node.getStart(sf), node.end, sf.languageVariant).join(" ");
    keys.set(node, key);
  }
  return key;
}

function lineCount(node: ts.Node): number {
  const sf = node.getSourceFile();
  return sf.getLineAndCharacterOfPosition(node.end).line -
    sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
}

/** "line 7: const id: string = user.id;" (first line of the node, clipped). */
export function describeNode(node: ts.Node): string {
  const sf = node.getSourceFile();
  const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
  const text = node.getText(sf).split("\n")[0].trim();
  return `line ${line}: ${text.length > 80 ? `${text.slice(0, 77)}…` : text}`;
}

// ---------------------------------------------------------------------------------------------------------
// Statements ("units": statements but blocks, class members, interface members, enum members)

function isUnit(node: ts.Node): boolean {
  if (ts.isBlock(node) || ts.isEmptyStatement(node) || ts.isSemicolonClassElement(node)) return false;
  return ts.isStatement(node) || ts.isClassElement(node) || ts.isTypeElement(node) || ts.isEnumMember(node);
}

/** The units directly inside `node` (through blocks, not through other units). */
function childUnits(node: ts.Node): ts.Node[] {
  const out: ts.Node[] = [];
  const visit = (child: ts.Node) => {
    if (isUnit(child)) out.push(child);
    else ts.forEachChild(child, visit);
  };
  ts.forEachChild(node, visit);
  return out;
}

/** `node`'s units at every depth, in document order. */
function allUnits(node: ts.Node): ts.Node[] {
  const out: ts.Node[] = [];
  const visit = (child: ts.Node) => {
    if (isUnit(child)) out.push(child);
    ts.forEachChild(child, visit);
  };
  ts.forEachChild(node, visit);
  return out;
}

function nameOf(node: ts.Node): string | null {
  if (ts.isVariableStatement(node)) {
    const first = node.declarationList.declarations[0];
    return first && ts.isIdentifier(first.name) ? first.name.text : null;
  }
  const name = (node as { name?: ts.Node }).name;
  return name && (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isPrivateIdentifier(name))
    ? name.text
    : null;
}

/** Pairs of indexes of the longest common subsequence of a and b by key. */
function lcs(a: ts.Node[], b: ts.Node[]): Array<[number, number]> {
  const n = a.length;
  const m = b.length;
  const ka = a.map(keyOf);
  const kb = b.map(keyOf);
  const table = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      table[i][j] = ka[i] === kb[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
    }
  }
  const pairs: Array<[number, number]> = [];
  for (let i = 0, j = 0; i < n && j < m;) {
    if (ka[i] === kb[j]) pairs.push([i++, j++]);
    else if (table[i + 1][j] >= table[i][j + 1]) i++;
    else j++;
  }
  return pairs;
}

function similarity(a: ts.Node, b: ts.Node): number {
  const ta = new Set(keyOf(a).split(" "));
  const tb = new Set(keyOf(b).split(" "));
  let common = 0;
  for (const t of ta) if (tb.has(t)) common++;
  return common / Math.max(1, ta.size + tb.size - common);
}

/**
 * The most likely counterpart of `o` among `candidates`: one holding all of `o`'s tokens (`o` wrapped, e.g.
 * returned or guarded), else one of the same kind with the same name, else the most similar of the same kind.
 */
function counterpart(o: ts.Node, candidates: ts.Node[], used: Set<ts.Node>): ts.Node | null {
  const free = candidates.filter((f) => !used.has(f));
  const key = ` ${keyOf(o)} `;
  const wrapping = free.find((f) => ` ${keyOf(f)} `.includes(key));
  if (wrapping) return wrapping;
  const sameKind = free.filter((f) => f.kind === o.kind);
  const name = nameOf(o);
  const named = name === null ? undefined : sameKind.find((f) => nameOf(f) === name);
  if (named) return named;
  let best: ts.Node | null = null;
  let score = 0.2; // below this, a statement of the same kind is a different statement
  for (const f of sameKind) {
    const s = similarity(o, f);
    if (s > score) [best, score] = [f, s];
  }
  return best;
}

function isFunctionWithBody(node: ts.Node): node is ts.FunctionLikeDeclaration & { body: ts.ConciseBody } {
  return ts.isFunctionLike(node) && (node as ts.FunctionLikeDeclaration).body !== undefined;
}

/** A cast of a value to what the checker cannot see through: `x as never`, `x as any`, `<any>x`. */
function isBlindValue(expression: ts.Expression | undefined): boolean {
  if (!expression) return true;
  let e: ts.Expression = expression;
  while (ts.isParenthesizedExpression(e) || ts.isNonNullExpression(e)) e = e.expression;
  if (ts.isAsExpression(e) || ts.isTypeAssertionExpression(e)) {
    return [ts.SyntaxKind.NeverKeyword, ts.SyntaxKind.AnyKeyword, ts.SyntaxKind.UnknownKeyword].includes(
      e.type.kind,
    ) ||
      isBlindValue(e.expression);
  }
  if (ts.isVoidExpression(e)) return true;
  return e.kind === ts.SyntaxKind.NullKeyword || (ts.isIdentifier(e) && e.text === "undefined");
}

/** A body that does nothing the original did: empty, only `throw`s, or `return` of nothing / a blind cast. */
function isStub(body: ts.ConciseBody): boolean {
  if (!ts.isBlock(body)) return isBlindValue(body);
  const statements = body.statements.filter((s) => !ts.isEmptyStatement(s));
  if (statements.length === 0) return true;
  if (statements.every((s) => ts.isThrowStatement(s))) return true;
  return statements.length === 1 && ts.isReturnStatement(statements[0]) &&
    isBlindValue(statements[0].expression);
}

/** Function-likes with a body by a path of names (`label`, `Box.put`, `handlers.onClick`). */
function namedBodies(sf: ts.SourceFile): Map<string, ts.ConciseBody> {
  const out = new Map<string, ts.ConciseBody>();
  const visit = (node: ts.Node, path: string) => {
    let here = path;
    const name = nameOf(node) ??
      (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) ? node.name.text : null) ??
      (ts.isConstructorDeclaration(node) ? "constructor" : null);
    if (
      name !== null && (ts.isClassLike(node) || isFunctionWithBody(node) || ts.isVariableDeclaration(node) ||
        ts.isPropertyAssignment(node) || ts.isPropertyDeclaration(node) || ts.isModuleDeclaration(node))
    ) {
      here = path ? `${path}.${name}` : name;
    }
    // The function itself names its body; an anonymous one takes its variable's or property's name.
    if (isFunctionWithBody(node) && here && !out.has(here)) out.set(here, node.body);
    ts.forEachChild(node, (child) => visit(child, here));
  };
  visit(sf, "");
  return out;
}

function commentTexts(sf: ts.SourceFile): string[] {
  const raw = ts.createScanner(ts.ScriptTarget.Latest, false, sf.languageVariant, sf.text);
  const out: string[] = [];
  for (let kind = raw.scan(); kind !== ts.SyntaxKind.EndOfFileToken; kind = raw.scan()) {
    if (kind === ts.SyntaxKind.SingleLineCommentTrivia || kind === ts.SyntaxKind.MultiLineCommentTrivia) {
      out.push(raw.getTokenText());
    }
  }
  return out;
}

/** The tokens of comments the fix added (as one string), to find code that was commented out. */
function addedCommentTokens(original: ts.SourceFile, fixed: ts.SourceFile): string {
  const budget = new Map<string, number>();
  for (const c of commentTexts(original)) budget.set(c, (budget.get(c) ?? 0) + 1);
  const added: string[] = [];
  for (const c of commentTexts(fixed)) {
    const left = budget.get(c) ?? 0;
    budget.set(c, left - 1);
    if (left <= 0) added.push(c.replace(/^\/\/|^\/\*|\*\/$/g, "").replace(/^\s*\*/gm, ""));
  }
  const text = added.join("\n");
  return ` ${tokens(text, 0, text.length, ts.LanguageVariant.Standard).join(" ")} `;
}

// ---------------------------------------------------------------------------------------------------------
// The region of an error

export interface Region {
  /** Top-level statements and class members of the original the fix may change. */
  units: Set<ts.Node>;
  /** Top-level names declared by the region: their declared type may change. */
  names: Set<string>;
  /** "line 6: export const order…; line 1: interface Order {" */
  description: string;
  /** The innermost statement holding the error: a fix may rewrite it into another statement. */
  errorStatement: ts.Node | null;
}

function deepestNodeAt(sf: ts.SourceFile, pos: number): ts.Node {
  let node: ts.Node = sf;
  for (;;) {
    let next: ts.Node | undefined;
    ts.forEachChild(node, (child) => {
      if (!next && child.getStart(sf) <= pos && pos < child.end) next = child;
    });
    if (!next) return node;
    node = next;
  }
}

function topStatementOf(node: ts.Node): ts.Node {
  let n = node;
  while (n.parent && !ts.isSourceFile(n.parent)) n = n.parent;
  return n;
}

/** The top-level statement holding `node`, or the class member holding it for a class. */
function unitOf(node: ts.Node): ts.Node {
  const top = topStatementOf(node);
  if (ts.isSourceFile(top)) return top;
  if (ts.isClassDeclaration(top)) {
    const member = top.members.find((m) => m.pos <= node.pos && node.end <= m.end && m !== node);
    if (member) return member;
  }
  return top;
}

function declaredNames(statement: ts.Node): ts.Identifier[] {
  const out: ts.Identifier[] = [];
  const bindings = (name: ts.BindingName) => {
    if (ts.isIdentifier(name)) out.push(name);
    else for (const e of name.elements) if (!ts.isOmittedExpression(e)) bindings(e.name);
  };
  if (ts.isVariableStatement(statement)) {
    for (const d of statement.declarationList.declarations) bindings(d.name);
  } else if (ts.isImportDeclaration(statement)) {
    const clause = statement.importClause;
    if (clause?.name) out.push(clause.name);
    const named = clause?.namedBindings;
    if (named && ts.isNamespaceImport(named)) out.push(named.name);
    if (named && ts.isNamedImports(named)) out.push(...named.elements.map((e) => e.name));
  } else if (
    (ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement) ||
      ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement) ||
      ts.isEnumDeclaration(statement) || ts.isModuleDeclaration(statement) ||
      ts.isImportEqualsDeclaration(statement)) && statement.name && ts.isIdentifier(statement.name)
  ) {
    out.push(statement.name);
  }
  return out;
}

/** Top-level statements this many lines before or after the error's statement belong to its region. */
export const REGION_SLACK_LINES = 2;

export function errorRegion(original: CheckedSnippet, target: Diagnostic): Region {
  const { sourceFile: sf, checker } = original;
  const units = new Set<ts.Node>();
  const node = deepestNodeAt(sf, target.start);
  if (!ts.isSourceFile(node)) units.add(unitOf(node));
  const addSymbol = (symbol: ts.Symbol | undefined) => {
    if (!symbol) return;
    let s = symbol;
    if (s.flags & ts.SymbolFlags.Alias) {
      try {
        s = checker.getAliasedSymbol(s);
      } catch { /* unresolvable */ }
    }
    for (const d of s.declarations ?? []) if (d.getSourceFile() === sf) units.add(unitOf(d));
  };
  if (!ts.isSourceFile(node)) {
    addSymbol(checker.getSymbolAtLocation(node));
    if (ts.isPropertyAccessExpression(node.parent) && node.parent.name === node) {
      const type = checker.getTypeAtLocation(node.parent.expression);
      addSymbol(type.aliasSymbol);
      addSymbol(type.getSymbol());
    }
    for (let p: ts.Node = node; !ts.isSourceFile(p) && !ts.isFunctionLike(p); p = p.parent) {
      if (ts.isCallExpression(p) || ts.isNewExpression(p)) {
        const callee = ts.isPropertyAccessExpression(p.expression) ? p.expression.name : p.expression;
        addSymbol(checker.getSymbolAtLocation(callee));
        break;
      }
      if (isUnit(p)) break;
    }
  }
  const quoted = new Set(
    [...target.message.matchAll(/'([^']+)'/g)].flatMap((m) => m[1].match(/[A-Za-z_$][\w$]*/g) ?? []),
  );
  for (const statement of sf.statements) {
    if (declaredNames(statement).some((n) => quoted.has(n.text))) units.add(statement);
  }
  if (!ts.isSourceFile(node)) {
    // Top-level statements next to the error's (REGION_SLACK_LINES) and those using a name it declares.
    const home = topStatementOf(node);
    const line = (pos: number) => sf.getLineAndCharacterOfPosition(pos).line;
    const first = line(home.getStart(sf));
    const last = line(home.end);
    const declared = new Set(declaredNames(home).map((n) => n.text));
    for (const statement of sf.statements) {
      const near = line(statement.end) >= first - REGION_SLACK_LINES &&
        line(statement.getStart(sf)) <= last + REGION_SLACK_LINES;
      const uses = declared.size > 0 && keyOf(statement).split(" ").some((t) => declared.has(t));
      if (near || uses) units.add(statement);
    }
  }
  const names = new Set<string>();
  for (const unit of units) {
    for (const n of declaredNames(topStatementOf(unit))) names.add(n.text);
  }
  const description = [...units].sort((a, b) => a.pos - b.pos).map(describeNode).join("; ");
  let errorStatement: ts.Node | null = null;
  for (let n: ts.Node = node; !ts.isSourceFile(n); n = n.parent) {
    if (isUnit(n)) {
      errorStatement = n;
      break;
    }
  }
  return { units, names, description, errorStatement };
}

function inRegion(node: ts.Node, region: Region): boolean {
  for (let n: ts.Node | undefined = node; n && !ts.isSourceFile(n); n = n.parent) {
    if (region.units.has(n)) return true;
  }
  return false;
}

/** True when a region unit lies inside `node` (a class whose member is the region). */
function holdsRegion(node: ts.Node, region: Region): boolean {
  for (const unit of region.units) if (node.pos <= unit.pos && unit.end <= node.end) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------------------
// Statements kept

/** At most this many lines may be added outside the error's region (a missing import, a small declaration). */
export const MAX_LINES_ADDED_OUTSIDE_REGION = 20;

export interface StatementComparison {
  /** Original statements with no counterpart in the fix (not commented out). */
  removed: ts.Node[];
  /** Removed statements whose tokens reappear in a comment the fix added. */
  commentedOut: ts.Node[];
  /** Function bodies (by name) the fix replaced with a stub. */
  stubbed: string[];
  /** Original top-level statements / class members outside the region that the fix changed or removed. */
  changedOutside: ts.Node[];
  /** Lines of new statements outside the region. */
  linesAddedOutside: number;
}

export function compareStatements(
  original: CheckedSnippet,
  fixed: CheckedSnippet,
  region: Region,
): StatementComparison {
  const out: StatementComparison = {
    removed: [],
    commentedOut: [],
    stubbed: [],
    changedOutside: [],
    linesAddedOutside: 0,
  };
  // Every fixed unit by key, for statements moved or wrapped (consumed once).
  const pool = new Map<string, number>();
  for (const u of allUnits(fixed.sourceFile)) pool.set(keyOf(u), (pool.get(keyOf(u)) ?? 0) + 1);
  const take = (key: string) => {
    const left = pool.get(key) ?? 0;
    if (left > 0) pool.set(key, left - 1);
    return left > 0;
  };
  const pairedFixed = new Set<ts.Node>();

  const compare = (o: ts.Node, f: ts.Node) => {
    const oc = childUnits(o);
    const fc = childUnits(f);
    const matched = lcs(oc, fc);
    const oKept = new Set(matched.map(([i]) => i));
    const fKept = new Set(matched.map(([, j]) => j));
    for (const [, j] of matched) {
      for (const u of [fc[j], ...allUnits(fc[j])]) pool.set(keyOf(u), (pool.get(keyOf(u)) ?? 1) - 1);
    }
    const unmatched = fc.filter((_, j) => !fKept.has(j));
    const candidates = unmatched.flatMap((u) => [u, ...allUnits(u)]);
    const left = oc.filter((unit, i) => !oKept.has(i) && !take(keyOf(unit)));
    const pairs = new Map<ts.Node, ts.Node>();
    const pair = (unit: ts.Node, other: ts.Node) => {
      pairs.set(unit, other);
      pairedFixed.add(other);
    };
    // Wrapped (all its tokens inside a new statement), then the same kind and name.
    for (const unit of left) {
      const key = ` ${keyOf(unit)} `;
      const other = candidates.find((f) => !pairedFixed.has(f) && ` ${keyOf(f)} `.includes(key)) ??
        candidates.find((f) =>
          !pairedFixed.has(f) && f.kind === unit.kind && nameOf(unit) !== null &&
          nameOf(f) === nameOf(unit)
        );
      if (other) pair(unit, other);
    }
    // The most similar of the same kind, best pairs first.
    const scored: Array<[number, ts.Node, ts.Node]> = [];
    for (const unit of left) {
      if (pairs.has(unit)) continue;
      for (const f of candidates) {
        if (f.kind === unit.kind && !pairedFixed.has(f)) scored.push([similarity(unit, f), unit, f]);
      }
    }
    for (const [score, unit, f] of scored.sort((a, b) => b[0] - a[0])) {
      if (score > 0.2 && !pairs.has(unit) && !pairedFixed.has(f)) pair(unit, f);
    }
    for (const unit of left) {
      const other = pairs.get(unit);
      if (other) compare(unit, other);
      else if (unit === region.errorStatement && unmatched.some((f) => !pairedFixed.has(f))) {
        pairedFixed.add(unmatched.find((f) => !pairedFixed.has(f))!); // the error's statement, rewritten
      } else out.removed.push(unit);
    }
  };
  compare(original.sourceFile, fixed.sourceFile);

  // Removed statements that reappear in new comments were commented out.
  const comments = addedCommentTokens(original.sourceFile, fixed.sourceFile);
  out.commentedOut = out.removed.filter((u) => comments.includes(` ${keyOf(u)} `));
  out.removed = out.removed.filter((u) => !out.commentedOut.includes(u));
  // A unit inside a removed one is reported through its parent only.
  const drop = (list: ts.Node[]) =>
    list.filter((u) => !list.some((p) => p !== u && p.pos <= u.pos && u.end <= p.end));
  out.removed = drop(out.removed);
  out.commentedOut = drop(out.commentedOut);

  const before = namedBodies(original.sourceFile);
  const after = namedBodies(fixed.sourceFile);
  for (const [name, body] of before) {
    const now = after.get(name);
    if (now && isStub(now) && !isStub(body)) out.stubbed.push(name);
  }

  // The region: outside it, original top-level statements (class members for a class holding the region)
  // stay as they are, and at most MAX_LINES_ADDED_OUTSIDE_REGION lines are added.
  const outside = (o: ts.Node[], f: ts.Node[]) => {
    const matched = lcs(o, f);
    const oKept = new Set(matched.map(([i]) => i));
    const fKept = new Set(matched.map(([, j]) => j));
    const fLeft = f.filter((_, j) => !fKept.has(j));
    const fUsed = new Set<ts.Node>();
    const movedKeys = new Map<string, number>();
    for (const u of fLeft) movedKeys.set(keyOf(u), (movedKeys.get(keyOf(u)) ?? 0) + 1);
    for (const [i, unit] of o.entries()) {
      if (oKept.has(i)) continue;
      const moved = fLeft.find((u) => !fUsed.has(u) && keyOf(u) === keyOf(unit));
      if (moved) {
        fUsed.add(moved);
        continue;
      }
      const other = counterpart(unit, fLeft, fUsed);
      if (other) fUsed.add(other);
      if (inRegion(unit, region)) continue;
      if (other && ts.isClassDeclaration(unit) && ts.isClassDeclaration(other) && holdsRegion(unit, region)) {
        outside([...unit.members], [...other.members]);
        continue;
      }
      out.changedOutside.push(unit);
    }
    for (const u of fLeft) if (!fUsed.has(u)) out.linesAddedOutside += lineCount(u);
  };
  outside([...original.sourceFile.statements], [...fixed.sourceFile.statements]);
  return out;
}

/** True when `node` lies in the region (removing it may be the fix, for the error classes that allow it). */
export function isInRegion(node: ts.Node, region: Region): boolean {
  return inRegion(node, region);
}

// ---------------------------------------------------------------------------------------------------------
// Declared types

const FORMAT = ts.TypeFormatFlags.NoTruncation;

/**
 * Types are written as the top level of the snippet names them (`Order`, `Config.Options`, `Array<string>`): the
 * same whether the snippet was compiled alone, as a script or a module, or as a module among others
 * (ts_batch.ts), so an original and its fix compare equal wherever each was compiled. (Fully qualified, a
 * module's own `Order` would be `import("/src/0/snippet").Order`, which names the program's file.)
 */
interface Printer {
  checker: ts.TypeChecker;
  at: ts.SourceFile;
}

const print = ({ checker, at }: Printer, type: ts.Type, flags = FORMAT) =>
  checker.typeToString(type, at, flags);

function signatureShape(p: Printer, sig: ts.Signature): string {
  const typeParams = sig.typeParameters?.map((t) => print(p, t)).join(", ");
  const params = sig.parameters.map((param) => {
    const decl = param.valueDeclaration;
    const optional = decl && ts.isParameter(decl) && (decl.questionToken || decl.initializer) ? "?" : "";
    const rest = decl && ts.isParameter(decl) && decl.dotDotDotToken ? "..." : "";
    return `${rest}${optional}${print(p, p.checker.getTypeOfSymbol(param))}`;
  });
  const returns = print(p, sig.getReturnType());
  return `${typeParams ? `<${typeParams}>` : ""}(${params.join(", ")}) => ${returns}`;
}

function objectShape(p: Printer, type: ts.Type): string {
  const { checker } = p;
  const props = checker.getPropertiesOfType(type).map((prop) =>
    `${prop.name}${prop.flags & ts.SymbolFlags.Optional ? "?" : ""}: ${
      print(p, checker.getTypeOfSymbol(prop))
    }`
  ).sort();
  const calls = type.getCallSignatures().map((s) => `call ${signatureShape(p, s)}`);
  const constructs = type.getConstructSignatures().map((s) => `new ${signatureShape(p, s)}`);
  const indexes = checker.getIndexInfosOfType(type).map((i) =>
    `[${print(p, i.keyType)}]: ${print(p, i.type)}`
  );
  return `{ ${[...props, ...calls, ...constructs, ...indexes].join("; ")} }`;
}

function shapeOf(p: Printer, symbol: ts.Symbol, meaning: "value" | "type"): string {
  const { checker } = p;
  let s = symbol;
  if (s.flags & ts.SymbolFlags.Alias) {
    try {
      s = checker.getAliasedSymbol(s);
    } catch { /* unresolvable */ }
  }
  if (meaning === "type") {
    const declared = checker.getDeclaredTypeOfSymbol(s);
    if (s.flags & ts.SymbolFlags.TypeAlias) {
      return print(p, declared, FORMAT | ts.TypeFormatFlags.InTypeAlias);
    }
    if (s.flags & ts.SymbolFlags.Enum) {
      return (s.exports ? [...s.exports.values()] : []).map((m) => {
        const decl = m.valueDeclaration;
        const value = decl && ts.isEnumMember(decl) ? checker.getConstantValue(decl) : undefined;
        return `${m.name}=${JSON.stringify(value)}`;
      }).join(", ");
    }
    return objectShape(p, declared);
  }
  const type = checker.getTypeOfSymbol(s);
  if (s.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Function | ts.SymbolFlags.Method)) {
    return objectShape(p, type);
  }
  return print(p, type);
}

export interface DeclarationShape {
  /** "value label", "type User", "export default" */
  key: string;
  name: string;
  shape: string;
  /** The top-level statement (or export) that declares it. */
  node: ts.Node;
}

const shapesOf = new WeakMap<CheckedSnippet, Map<string, DeclarationShape>>();
const anysOf = new WeakMap<CheckedSnippet, string[]>();

/**
 * Every top-level declaration (values and types apart) and every export of the module, with its shape.
 * Computed once per compiled snippet (the original is compared with every candidate).
 */
export function declarationShapes(snippet: CheckedSnippet): Map<string, DeclarationShape> {
  let shapes = shapesOf.get(snippet);
  if (!shapes) shapesOf.set(snippet, shapes = computeShapes(snippet));
  return shapes;
}

function computeShapes(snippet: CheckedSnippet): Map<string, DeclarationShape> {
  const { checker, sourceFile: sf } = snippet;
  const out = new Map<string, DeclarationShape>();
  const add = (key: string, name: string, symbol: ts.Symbol, meaning: "value" | "type", node: ts.Node) => {
    if (out.has(key)) return;
    let shape: string;
    try {
      shape = shapeOf({ checker, at: sf }, symbol, meaning);
    } catch (error) {
      shape = `(unprintable: ${(error as Error).message})`;
    }
    out.set(key, { key, name, shape, node });
  };
  for (const statement of sf.statements) {
    for (const name of declaredNames(statement)) {
      const symbol = checker.getSymbolAtLocation(name);
      if (!symbol) continue;
      const flags = symbol.flags & ts.SymbolFlags.Alias
        ? ts.SymbolFlags.Value | ts.SymbolFlags.Type
        : symbol.flags;
      if (flags & ts.SymbolFlags.Value) add(`value ${name.text}`, name.text, symbol, "value", statement);
      if (flags & ts.SymbolFlags.Type && !(symbol.flags & ts.SymbolFlags.Alias)) {
        add(`type ${name.text}`, name.text, symbol, "type", statement);
      }
    }
  }
  const moduleSymbol = checker.getSymbolAtLocation(sf);
  if (moduleSymbol) {
    for (const symbol of checker.getExportsOfModule(moduleSymbol)) {
      const node = symbol.declarations?.[0] ?? sf;
      const meaning = symbol.flags & ts.SymbolFlags.Value || symbol.flags & ts.SymbolFlags.Alias
        ? "value"
        : "type";
      add(`export ${symbol.name}`, symbol.name, symbol, meaning, node);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Implicit any

/**
 * Expressions (calls, `new`, property and element accesses, `await`) whose type is `any`, and declarations
 * without a type annotation whose type is `any`, each keyed by its tokens. An error type counts too (it
 * only ever makes the original's list longer).
 */
export function anyExpressions(snippet: CheckedSnippet): string[] {
  let found = anysOf.get(snippet);
  if (!found) anysOf.set(snippet, found = computeAnys(snippet));
  return found;
}

function computeAnys(snippet: CheckedSnippet): string[] {
  const { checker, sourceFile: sf } = snippet;
  const out: string[] = [];
  const isAny = (node: ts.Node) => (checker.getTypeAtLocation(node).flags & ts.TypeFlags.Any) !== 0;
  const visit = (node: ts.Node) => {
    if (ts.isTypeNode(node)) return;
    if (
      (ts.isCallExpression(node) || ts.isNewExpression(node) || ts.isPropertyAccessExpression(node) ||
        ts.isElementAccessExpression(node) || ts.isAwaitExpression(node) ||
        ts.isTaggedTemplateExpression(node)) &&
      isAny(node)
    ) {
      out.push(keyOf(node));
    }
    if (
      (ts.isVariableDeclaration(node) || ts.isPropertyDeclaration(node) || ts.isParameter(node)) &&
      !node.type && ts.isIdentifier(node.name) && isAny(node.name)
    ) {
      out.push(`declaration ${node.name.text}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

export { lineCount };
