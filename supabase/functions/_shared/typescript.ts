/**
 * Type-checking of a single in-memory TypeScript file with the real compiler.
 *
 * `diagnoseSnippet` builds a throw-away `ts.Program` over one virtual file plus the
 * standard lib `.d.ts` files (es2022 + dom) shipped inside the `typescript` npm package.
 * Nothing else is visible to the program: no node_modules, no @types, no real files, so
 * an import of any module yields TS2307, which is a legitimate diagnostic.
 *
 * Lib files are parsed (and, by the checker, bound) once and kept in a module-level
 * cache, so after the first call a small snippet checks in a few milliseconds.
 *
 * Where the lib files come from (see `resolveLibDir`):
 *   1. `TS_LIB_DIR` env var, if set (a folder holding lib.es5.d.ts, lib.dom.d.ts, ...),
 *   2. the folder of `ts.getDefaultLibFilePath()` — under Deno the npm package lives
 *      unpacked in the Deno cache (e.g. ~/.cache/deno/npm/registry.npmjs.org/typescript/
 *      5.9.3/lib/) and the package's own `ts.sys` (Node compat: process + require("fs"))
 *      reports that folder,
 *   3. the folder of `import.meta.resolve("typescript")` when it is a file: URL.
 * Permissions: the typescript package itself reads process.env at import (--allow-env), and
 * the lib folder needs read access (--allow-read; the npm cache is not readable without it).
 *
 * Hosted edge runtime: the deploy bundler packs the module graph of npm packages, i.e. the
 * .js files that are imported; the lib .d.ts files are data read through the file system and
 * are not imported, so they cannot be assumed to be in the bundle (untested here: no access to
 * the hosted platform). If they are missing, `diagnoseSnippet` throws a clear error instead of
 * reporting bogus "Cannot find global type" diagnostics. Remedies: ship the ~58 lib files
 * (2.3 MB for es2022 + dom) with `static_files` in config.toml and point TS_LIB_DIR at them, or
 * call `setLibFileReader` with another source (e.g. Storage).
 *
 * Snippets are checked like `tsc` would: a file without import/export is a script, so its
 * top-level names share the global scope with lib.dom (`const name` clashes with window.name).
 */
import ts from "typescript";

export type DiagnosticCategory = "error" | "warning" | "suggestion" | "message";

export interface Diagnostic {
  /** "TS2322" */
  code: string;
  /** 2322 */
  numericCode: number;
  category: DiagnosticCategory;
  /** Full message chain flattened with "\n". */
  message: string;
  /** 1-based; 0 for diagnostics that have no location (options/global). */
  line: number;
  /** 1-based; 0 for diagnostics that have no location. */
  column: number;
  /** 0-based offset into the snippet. */
  start: number;
  length: number;
}

export interface DiagnoseOptions {
  /** Virtual file name; `.tsx` enables JSX parsing. Default `snippet.ts`. */
  fileName?: string;
  /**
   * How long checking the file may take, in ms (TS_COMPILE_TIME_LIMIT_MS, default 5000; 0: no limit). Past it
   * the checker stops at its next declaration and `CompileTimeoutError` is thrown. Setting up the program
   * (the lib files, bound once per process) is not counted.
   */
  timeLimitMs?: number;
}

/** The compiler did not finish checking within its time limit (pathological input). */
export class CompileTimeoutError extends Error {
  override name = "CompileTimeoutError";
  constructor(readonly limitMs: number, readonly elapsedMs: number) {
    super(`the TypeScript compiler needed more than ${limitMs} ms for this code`);
  }
}

function defaultTimeLimitMs(): number {
  const value = Number(Deno.env.get("TS_COMPILE_TIME_LIMIT_MS") ?? 5_000);
  return Number.isFinite(value) && value >= 0 ? value : 5_000;
}

/** Returns the text of a lib file by bare name (`lib.es5.d.ts`), or undefined if missing. */
export type LibFileReader = (libFileName: string) => string | undefined;

const ROOT_DIR = "/src";
const LIB_DIR = "/__typescript_lib__";
const ROOT_LIBS = ["lib.es2022.d.ts", "lib.dom.d.ts"];

const BASE_OPTIONS: ts.CompilerOptions = {
  strict: true,
  target: ts.ScriptTarget.ES2022,
  lib: ROOT_LIBS,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  noEmit: true,
  // No automatic inclusion of @types packages: the program must see only the snippet + libs.
  types: [],
};

const TSX_OPTIONS: ts.CompilerOptions = { ...BASE_OPTIONS, jsx: ts.JsxEmit.Preserve };

const libSourceCache = new Map<string, ts.SourceFile>();
let customLibReader: LibFileReader | undefined;
let defaultLibReader: LibFileReader | undefined;

/** Replaces how lib files are read (and clears the lib cache). Pass undefined to restore the default. */
export function setLibFileReader(reader: LibFileReader | undefined): void {
  customLibReader = reader;
  libSourceCache.clear();
}

/** Number of lib SourceFiles currently cached (for tests and diagnostics of the cache). */
export function libCacheSize(): number {
  return libSourceCache.size;
}

function envVar(name: string): string | undefined {
  try {
    return globalThis.Deno?.env.get(name) || undefined;
  } catch {
    return undefined; // no --allow-env
  }
}

function readTextFile(path: string): string | undefined {
  try {
    if (globalThis.Deno) return Deno.readTextFileSync(path);
    return ts.sys?.readFile(path);
  } catch {
    return undefined;
  }
}

function dirOf(path: string): string {
  return path.replace(/[\\/][^\\/]*$/, "");
}

/** Candidate folders for the lib .d.ts files, in order of preference. */
export function libDirCandidates(): string[] {
  const dirs: string[] = [];
  const fromEnv = envVar("TS_LIB_DIR");
  if (fromEnv) dirs.push(fromEnv.replace(/[\\/]+$/, ""));
  try {
    if (ts.sys) dirs.push(dirOf(ts.getDefaultLibFilePath(BASE_OPTIONS)));
  } catch {
    // ts.sys unusable in this runtime
  }
  try {
    const url = new URL(import.meta.resolve("typescript"));
    if (url.protocol === "file:") dirs.push(dirOf(decodeURIComponent(url.pathname)));
  } catch {
    // not resolvable as a file in this runtime
  }
  return [...new Set(dirs)];
}

/** The first candidate folder that really holds lib.es5.d.ts, or undefined. */
export function resolveLibDir(): string | undefined {
  return libDirCandidates().find((dir) => readTextFile(`${dir}/lib.es5.d.ts`) !== undefined);
}

function readLibFile(libFileName: string): string | undefined {
  if (customLibReader) return customLibReader(libFileName);
  if (!defaultLibReader) {
    const dir = resolveLibDir();
    if (!dir) {
      throw new Error(
        `TypeScript lib files not found (looked in: ${libDirCandidates().join(", ") || "nowhere"}). ` +
          "Set TS_LIB_DIR to a folder with lib.*.d.ts or call setLibFileReader().",
      );
    }
    defaultLibReader = (name) => readTextFile(`${dir}/${name}`);
  }
  return defaultLibReader(libFileName);
}

function getLibSourceFile(
  fileName: string,
  languageVersion: ts.ScriptTarget | ts.CreateSourceFileOptions,
): ts.SourceFile | undefined {
  const target = typeof languageVersion === "object" ? languageVersion.languageVersion : languageVersion;
  const key = `${target}:${fileName}`;
  const cached = libSourceCache.get(key);
  if (cached) return cached;
  const text = readLibFile(fileName.slice(LIB_DIR.length + 1));
  if (text === undefined) return undefined;
  const sourceFile = ts.createSourceFile(fileName, text, languageVersion, false);
  libSourceCache.set(key, sourceFile);
  return sourceFile;
}

function createHost(filePath: string, code: string, options: ts.CompilerOptions): ts.CompilerHost {
  const isLib = (name: string) => name.startsWith(`${LIB_DIR}/`);
  return {
    getSourceFile: (name, languageVersion) => {
      if (name === filePath) return ts.createSourceFile(name, code, languageVersion, false);
      return isLib(name) ? getLibSourceFile(name, languageVersion) : undefined;
    },
    getDefaultLibFileName: () => `${LIB_DIR}/${ts.getDefaultLibFileName(options)}`,
    getDefaultLibLocation: () => LIB_DIR,
    writeFile: () => {},
    getCurrentDirectory: () => ROOT_DIR,
    getCanonicalFileName: (name) => name,
    useCaseSensitiveFileNames: () => true,
    getNewLine: () => "\n",
    fileExists: (name) =>
      name === filePath || (isLib(name) && readLibFile(name.slice(LIB_DIR.length + 1)) !== undefined),
    readFile: (name) => (name === filePath ? code : undefined),
    directoryExists: (dir) => dir === ROOT_DIR || dir === "/" || dir === LIB_DIR,
    getDirectories: () => [],
  };
}

const CATEGORY: Record<ts.DiagnosticCategory, DiagnosticCategory> = {
  [ts.DiagnosticCategory.Error]: "error",
  [ts.DiagnosticCategory.Warning]: "warning",
  [ts.DiagnosticCategory.Suggestion]: "suggestion",
  [ts.DiagnosticCategory.Message]: "message",
};

function toDiagnostic(d: ts.Diagnostic): Diagnostic {
  let line = 0;
  let column = 0;
  if (d.file && d.start !== undefined) {
    const pos = d.file.getLineAndCharacterOfPosition(d.start);
    line = pos.line + 1;
    column = pos.character + 1;
  }
  return {
    code: `TS${d.code}`,
    numericCode: d.code,
    category: CATEGORY[d.category],
    message: ts.flattenDiagnosticMessageText(d.messageText, "\n"),
    line,
    column,
    start: d.start ?? 0,
    length: d.length ?? 0,
  };
}

/**
 * Type-checks `code` as a single file and returns its diagnostics sorted by position.
 * Like `tsc`, semantic diagnostics are only computed when the file has no syntax errors
 * (otherwise a missing `)` would drown in follow-up type errors).
 */
export function diagnoseSnippet(code: string, opts: DiagnoseOptions = {}): Diagnostic[] {
  const fileName = (opts.fileName ?? "snippet.ts").replace(/^.*[\\/]/, "") || "snippet.ts";
  const options = /\.tsx$/i.test(fileName) ? TSX_OPTIONS : BASE_OPTIONS;
  const filePath = `${ROOT_DIR}/${fileName}`;
  const program = ts.createProgram({
    rootNames: [filePath],
    options,
    host: createHost(filePath, code, options),
  });
  const sourceFile = program.getSourceFile(filePath);
  if (!sourceFile) throw new Error(`internal error: ${filePath} missing from program`);

  // The time limit: the checker asks the cancellation token at every declaration it checks. The clock starts
  // once the checker exists (binding the lib files on a cold start is not the input's doing).
  program.getTypeChecker();
  const limitMs = opts.timeLimitMs ?? defaultTimeLimitMs();
  const started = performance.now();
  const overdue = () => limitMs > 0 && performance.now() - started > limitMs;
  const token: ts.CancellationToken = {
    isCancellationRequested: overdue,
    throwIfCancellationRequested: () => {
      if (overdue()) throw new ts.OperationCanceledException();
    },
  };
  try {
    let found: readonly ts.Diagnostic[] = [
      ...program.getOptionsDiagnostics(),
      ...program.getSyntacticDiagnostics(sourceFile, token),
    ];
    if (found.length === 0) {
      found = [...program.getGlobalDiagnostics(token), ...program.getSemanticDiagnostics(sourceFile, token)];
    }
    return found.map(toDiagnostic).sort((a, b) => a.start - b.start || a.numericCode - b.numericCode);
  } catch (error) {
    if (error instanceof ts.OperationCanceledException) {
      throw new CompileTimeoutError(limitMs, Math.round(performance.now() - started));
    }
    throw error;
  }
}

/** One-line rendering: `3:7 TS2322 Type 'number' is not assignable to type 'string'.` */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.line}:${d.column} ${d.code} ${d.message.split("\n").join(" ")}`;
}

/**
 * A small code frame around `line`/`column` (1-based) with line numbers and a caret:
 *
 *     1 | const a = 1;
 *   > 2 | const b: string = a;
 *       |       ^
 *     3 | export { b };
 */
export function codeFrame(code: string, line: number, column: number, context = 2): string {
  const lines = code.split(/\r?\n/);
  const target = Math.min(Math.max(line, 1), Math.max(lines.length, 1));
  const first = Math.max(1, target - context);
  const last = Math.min(lines.length, target + context);
  const width = String(last).length;
  const out: string[] = [];
  for (let n = first; n <= last; n++) {
    const text = lines[n - 1] ?? "";
    const marker = n === target ? ">" : " ";
    out.push(`${marker} ${String(n).padStart(width)} | ${text}`.trimEnd());
    if (n === target) {
      // Keep tabs so the caret lines up with the source line in a terminal.
      const prefix = text.slice(0, Math.max(column - 1, 0)).replace(/[^\t]/g, " ");
      out.push(`  ${" ".repeat(width)} | ${prefix}^`);
    }
  }
  return out.join("\n");
}
