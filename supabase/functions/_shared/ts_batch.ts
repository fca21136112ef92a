/**
 * Snippets that wait to be compiled at the same moment are checked in one program, as separate modules: the
 * type checker's setup — the lib's globals merged, the lib types a snippet touches resolved — is then paid once
 * for all of them instead of once each (a new checker per snippet was most of a compile's cost). Concurrent
 * fix requests of an isolate meet here: a compile waits until every fix request in progress has asked for one,
 * or at most TS_BATCH_WAIT_MS (3 ms; TS_BATCH_OVERLAPPED_WAIT_MS, 8 ms, for an original compiled while its
 * request's retrieval runs), and everything asked for by then is compiled together (at most MAX_FILES a
 * program). A request alone never waits.
 *
 *   await checkAll(service, [fixA, fixB]);           // then service.check(fixA) is the compile (no new one)
 *   const { original, target, fixes } = await checkOriginal(service, code, pickTarget);
 *
 * A snippet shares a program only where that cannot change what it reports, as a compile of it alone would
 * (SnippetService.check; tests/typescript_batch.test.ts compares both on a corpus and on each case below):
 *
 *   - each file is a module of its own (`moduleDetection: force`), in a folder of its own; its imports resolve as
 *     they would for the snippet alone (to itself at most), never to another snippet of the program;
 *   - no file may reach into the global scope: a module with `declare global`, `declare module "…"` or
 *     `export as namespace` is compiled alone;
 *   - a script (no import or export) is checked as a module only when it would make no difference: none of its
 *     top-level names is one of the lib's globals (a script's `const name` clashes with lib.dom's), it declares no
 *     `var`, function or namespace at the top (those are properties of `typeof globalThis`), and it uses no
 *     `globalThis`, no top-level `this`, `arguments` or `await` (which mean something else in a module);
 *   - code with `/// <reference …>` lines of its own is compiled alone, with the lib files one by one;
 *   - code fixes are asked for in the same turn as the compile, and the `import` fix (which would import another
 *     snippet's exports) is not offered.
 *
 * Checking a file that runs out of time (CompileTimeoutError) fails that file's compile only; TypeScript starts
 * a new checker for the rest.
 */
import ts from "typescript";
import {
  type CheckedSnippet,
  codeFixesAt,
  type CompilerFix,
  libExists,
  snippetLanguageService,
  type SnippetService,
} from "./ts_service.ts";
import {
  COMBINED_LIB,
  type Diagnostic,
  getLibSourceFile,
  LIB_DIR,
  libFilesGeneration,
  needsSeparateLibs,
  programDiagnostics,
  ROOT_DIR,
  snippetSetup,
} from "./typescript.ts";

/** At most this many snippets share a program (more wait for the next one, in the same turn). */
const MAX_FILES = 16;
/** Fixes not offered for a snippet that shares its program: `import` would import from another snippet. */
const BATCH_SKIPPED_FIXES = new Set(["import"]);

/** The original's compile and TypeScript's code fixes for the diagnostic `pick` chose, made in one turn. */
export interface CheckedOriginal {
  original: CheckedSnippet;
  target: Diagnostic | null;
  fixes: CompilerFix[];
}

interface Job {
  code: string;
  pick?: (diagnostics: Diagnostic[]) => Diagnostic | null;
  resolve(value: CheckedOriginal): void;
  reject(error: unknown): void;
}

// ---------------------------------------------------------------------------------------------------------------
// Which snippets may share a program

let libGlobals: { generation: number; names: Set<string> } | null = null;

/** The names the lib declares at the top (its globals: `name`, `Event`, `console` …). */
function libGlobalNames(): Set<string> {
  if (libGlobals?.generation === libFilesGeneration()) return libGlobals.names;
  const names = new Set<string>();
  const lib = getLibSourceFile(COMBINED_LIB, ts.ScriptTarget.ES2022);
  for (const statement of lib?.statements ?? []) {
    for (const name of topLevelNames(statement)) names.add(name);
  }
  libGlobals = { generation: libFilesGeneration(), names };
  return names;
}

function bindingNames(name: ts.BindingName, out: string[]): void {
  if (ts.isIdentifier(name)) out.push(name.text);
  else {for (const element of name.elements) {
      if (!ts.isOmittedExpression(element)) bindingNames(element.name, out);
    }}
}

/** The names a top-level statement declares. */
function topLevelNames(statement: ts.Statement): string[] {
  const out: string[] = [];
  if (ts.isVariableStatement(statement)) {
    for (const d of statement.declarationList.declarations) bindingNames(d.name, out);
  } else if (
    (ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement) ||
      ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement) ||
      ts.isEnumDeclaration(statement) || ts.isModuleDeclaration(statement)) &&
    statement.name && ts.isIdentifier(statement.name)
  ) {
    out.push(statement.name.text);
  }
  return out;
}

const reachesGlobalScope = (statement: ts.Statement) =>
  ts.isNamespaceExportDeclaration(statement) ||
  (ts.isModuleDeclaration(statement) &&
    (ts.isStringLiteral(statement.name) || (statement.flags & ts.NodeFlags.GlobalAugmentation) !== 0));

/** A script's top-level statements that a module would treat otherwise, or that put names on globalThis. */
function scriptOnly(statement: ts.Statement): boolean {
  if (ts.isVariableStatement(statement)) {
    const flags = statement.declarationList.flags;
    return (flags & ts.NodeFlags.BlockScoped) === 0 || (flags & ts.NodeFlags.Using) !== 0;
  }
  return ts.isFunctionDeclaration(statement) || ts.isModuleDeclaration(statement) ||
    ts.isImportEqualsDeclaration(statement);
}

/**
 * Whether anything in a script means something else in a module: `globalThis` anywhere; `this` or `arguments`
 * outside a function of its own (arrow functions share the top level's); an `await` expression outside any
 * function; `await` as a name (a reserved word in modules).
 */
function usesScriptScope(sf: ts.SourceFile): boolean {
  let found = false;
  const visit = (node: ts.Node, ownThis: boolean, inFunction: boolean): void => {
    if (found) return;
    if (ts.isIdentifier(node)) {
      const text = node.text;
      if (text === "globalThis" || text === "await" || (!ownThis && text === "arguments")) {
        found = true;
      }
      return;
    }
    if (node.kind === ts.SyntaxKind.ThisKeyword || node.kind === ts.SyntaxKind.ThisType) {
      if (!ownThis) found = true;
      return;
    }
    if (!inFunction && (ts.isAwaitExpression(node) || (ts.isForOfStatement(node) && node.awaitModifier))) {
      found = true;
      return;
    }
    const fn = ts.isFunctionLike(node);
    const own = ownThis || (fn && !ts.isArrowFunction(node)) || ts.isClassLike(node);
    ts.forEachChild(node, (child) => visit(child, own, inFunction || fn));
  };
  visit(sf, false, false);
  return found;
}

/**
 * Whether `code` can be checked as a module among others with the diagnostics it has alone (see the top). Fast:
 * one parse, one walk of a script.
 */
export function sharesProgram(code: string, fileName = "snippet.ts"): boolean {
  if (needsSeparateLibs(code)) return false;
  const { filePath } = snippetSetup(fileName);
  const kind = filePath.endsWith(".tsx") ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const sf = ts.createSourceFile(filePath, code, ts.ScriptTarget.ES2022, false, kind);
  if (sf.statements.some(reachesGlobalScope)) return false;
  if (ts.isExternalModule(sf)) return true;
  if (sf.statements.some(scriptOnly)) return false;
  const globals = libGlobalNames();
  if (sf.statements.some((s) => topLevelNames(s).some((name) => globals.has(name)))) return false;
  return !usesScriptScope(sf);
}

// ---------------------------------------------------------------------------------------------------------------
// One language service for the programs of many snippets

/**
 * The isolate's language service whose program holds the snippets of one turn, each as `/src/<slot>/snippet.ts`.
 * Its imports resolve as the snippet's alone at `/src/snippet.ts` would (where only the snippet and the lib
 * exist), mapped back to its own slot.
 */
class BatchService {
  readonly generation = libFilesGeneration();
  readonly single: ReturnType<typeof snippetSetup>;
  readonly service: ts.LanguageService;
  #texts = new Map<string, { code: string; version: string }>();
  #paths: string[] = [];
  #version = 0;

  constructor(readonly fileName: string) {
    this.single = snippetSetup(fileName, true);
    const options = { ...this.single.options, moduleDetection: ts.ModuleDetectionKind.Force };
    const alone = this.single.filePath;
    // Where only the snippet alone and the lib exist.
    const aloneHost: ts.ModuleResolutionHost = {
      fileExists: (name) => name === alone || libExists(name, options),
      readFile: () => undefined,
      directoryExists: (dir) => dir === ROOT_DIR || dir === "/" || dir === LIB_DIR,
      getCurrentDirectory: () => ROOT_DIR,
      getDirectories: () => [],
    };
    this.service = snippetLanguageService(
      options,
      () => [COMBINED_LIB, ...this.#paths],
      (name) => this.#texts.get(name),
      (literals, containingFile, _redirect, compilerOptions) =>
        literals.map((literal) => {
          const resolved = ts.resolveModuleName(literal.text, alone, compilerOptions, aloneHost);
          const to = resolved.resolvedModule;
          return to?.resolvedFileName === alone
            ? { ...resolved, resolvedModule: { ...to, resolvedFileName: containingFile } }
            : resolved;
        }),
    );
  }

  /** Makes `codes` the program's snippets; returns each one's path. */
  load(codes: string[]): string[] {
    const ext = this.single.filePath.endsWith(".tsx") ? "tsx" : "ts";
    this.#paths = codes.map((_, i) => `${ROOT_DIR}/${i}/snippet.${ext}`);
    this.#texts.clear();
    codes.forEach((code, i) => this.#texts.set(this.#paths[i], { code, version: String(++this.#version) }));
    return this.#paths;
  }
}

const services = new Map<string, BatchService>();
const queues = new Map<string, Job[]>();

function batchService(fileName: string): BatchService {
  let found = services.get(fileName);
  if (!found || found.generation !== libFilesGeneration()) {
    services.set(fileName, found = new BatchService(fileName));
  }
  return found;
}

/** Compiles the jobs of one turn, MAX_FILES a program; each job settles with its own result or error. */
function flush(fileName: string): void {
  const jobs = queues.get(fileName) ?? [];
  queues.delete(fileName);
  const batch = batchService(fileName);
  for (let first = 0; first < jobs.length; first += MAX_FILES) {
    const group = jobs.slice(first, first + MAX_FILES);
    let paths: string[];
    let program: ts.Program | undefined;
    try {
      paths = batch.load(group.map((j) => j.code));
      program = batch.service.getProgram();
      if (!program) throw new Error("internal error: no program for the batch");
    } catch (error) {
      for (const job of group) job.reject(error);
      continue;
    }
    group.forEach((job, i) => {
      try {
        const sourceFile = program.getSourceFile(paths[i]);
        if (!sourceFile) throw new Error(`internal error: ${paths[i]} missing from the program`);
        const diagnostics = programDiagnostics(program, sourceFile);
        const original: CheckedSnippet = {
          code: job.code,
          program,
          checker: program.getTypeChecker(),
          sourceFile,
          diagnostics,
        };
        const target = job.pick?.(diagnostics) ?? null;
        const fixes = target
          ? codeFixesAt(batch.service, paths[i], job.code, target, BATCH_SKIPPED_FIXES)
          : [];
        job.resolve({ original, target, fixes });
      } catch (error) {
        job.reject(error);
      }
    });
  }
  // The program's snippets are not kept past their requests.
  batch.load([]);
}

/** Fix requests of this isolate in progress (openBatching): those whose compiles may still join a batch. */
let participants = 0;
/** Per file name: the pending flush's timer and when it fires (performance.now()). */
const timers = new Map<string, { timer: ReturnType<typeof setTimeout>; at: number }>();
const due = new Set<string>();

function envMs(name: string, fallback: number): number {
  const value = Number(Deno.env.get(name) ?? fallback);
  return Number.isFinite(value) && value >= 0 ? value : fallback;
}

/**
 * How long a compile may wait for others': TS_BATCH_WAIT_MS (3 ms); TS_BATCH_OVERLAPPED_WAIT_MS (8 ms) for one
 * whose request has other work in flight meanwhile (fix-code-error's retrieval beside the original's compile),
 * which waiting does not delay.
 */
function waitMs(overlapped: boolean): number {
  return overlapped ? envMs("TS_BATCH_OVERLAPPED_WAIT_MS", 8) : envMs("TS_BATCH_WAIT_MS", 3);
}

/** Flushes at the end of this turn (once). */
function flushSoon(fileName: string): void {
  if (due.has(fileName)) return;
  due.add(fileName);
  clearTimeout(timers.get(fileName)?.timer);
  timers.delete(fileName);
  queueMicrotask(() => {
    due.delete(fileName);
    flush(fileName);
  });
}

/**
 * Queues a compile. The batch is compiled once every request in progress has queued one, or when the shortest
 * wait of those queued is over (waitMs): a request alone never waits; under load, compiles that come in the next
 * few milliseconds share the program (a checker's setup costs more than a snippet's check), and a compile that
 * may not wait long is not held up by one that may.
 */
function enqueue(
  fileName: string,
  job: Omit<Job, "resolve" | "reject">,
  overlapped = false,
): Promise<CheckedOriginal> {
  return new Promise((resolve, reject) => {
    let queue = queues.get(fileName);
    if (!queue) queues.set(fileName, queue = []);
    queue.push({ ...job, resolve, reject });
    if (queue.length >= participants) flushSoon(fileName);
    else if (!due.has(fileName)) {
      const wait = waitMs(overlapped);
      const at = performance.now() + wait;
      const pending = timers.get(fileName);
      if (!pending || at < pending.at) {
        clearTimeout(pending?.timer);
        timers.set(fileName, { timer: setTimeout(() => flushSoon(fileName), wait), at });
      }
    }
  });
}

/**
 * Says a fix request is in progress, whose compiles others may wait for; call the returned function when it
 * ends (fixCodeError does both).
 */
export function openBatching(): () => void {
  participants++;
  let open = true;
  return () => {
    if (!open) return;
    open = false;
    participants--;
    // Those queued may now be everyone left.
    for (const [fileName, queue] of queues) if (queue.length >= participants) flushSoon(fileName);
  };
}

// ---------------------------------------------------------------------------------------------------------------
// For a request's SnippetService

/**
 * Compiles the texts of `codes` the request has not compiled yet — in a shared program where they may, else alone
 * — so that service.check finds each compiled. The first failure (CompileTimeoutError …) is thrown.
 */
export async function checkAll(service: SnippetService, codes: string[]): Promise<void> {
  const pending = [...new Set(codes)].filter((code) => !service.seen(code));
  const shared = pending.filter((code) => sharesProgram(code, service.fileName));
  for (const code of pending) if (!shared.includes(code)) service.check(code);
  const results = await Promise.all(shared.map((code) => enqueue(service.fileName, { code })));
  for (const { original } of results) service.remember(original);
}

/**
 * The original code's compile, the diagnostic `pick` chooses among its diagnostics (null: none) and
 * TypeScript's code fixes for it, all from one program in one turn.
 */
export async function checkOriginal(
  service: SnippetService,
  code: string,
  pick: (diagnostics: Diagnostic[]) => Diagnostic | null,
  /** The request does other work meanwhile, so the compile may wait longer for others' (waitMs). */
  { overlapped = false }: { overlapped?: boolean } = {},
): Promise<CheckedOriginal> {
  const seen = service.seen(code);
  if (!seen && sharesProgram(code, service.fileName)) {
    const result = await enqueue(service.fileName, { code, pick }, overlapped);
    service.remember(result.original);
    return result;
  }
  const original = seen ?? service.check(code);
  const target = pick(original.diagnostics);
  return { original, target, fixes: target ? service.codeFixes(original, target) : [] };
}
