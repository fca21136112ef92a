/**
 * One TypeScript language service over one virtual snippet file, for a whole fix request: the original code
 * and every candidate fix are versions of the same file, so each is compiled once (`check` keeps the result
 * by text), the lib files are the parsed ones cached in typescript.ts (read only through its lib reader), and
 * the compiler's own code fixes (`getCodeFixesAtPosition`) come from the program that checked the original.
 *
 *   const service = new SnippetService("snippet.ts");
 *   const original = service.check(code);          // program, checker, diagnostics (as diagnoseSnippet)
 *   service.codeFixes(original, diagnostic);       // [{ fixName, description, code }] — not verified
 *
 * Not thread-safe in any sense that matters here: one request, one service, synchronous calls.
 */
import ts from "typescript";
import {
  type Diagnostic,
  getLibSourceFile,
  LIB_DIR,
  programDiagnostics,
  snippetSetup,
} from "./typescript.ts";

export interface CheckedSnippet {
  code: string;
  program: ts.Program;
  checker: ts.TypeChecker;
  sourceFile: ts.SourceFile;
  /** As diagnoseSnippet reports them (sorted; semantic only without syntax errors). */
  diagnostics: Diagnostic[];
}

export interface CompilerFix {
  /** The code fix's name in TypeScript (`fixSpelling`, `inferFromUsage`, `addMissingAwait` …). */
  fixName: string;
  description: string;
  /** The whole file with the fix's edits applied. */
  code: string;
}

const LIB_VERSION = "lib";
const isLib = (name: string) => name.startsWith(`${LIB_DIR}/`);

/** Lib SourceFiles carry the version the service reports for them, so a program stays up to date. */
function libFile(
  fileName: string,
  languageVersion: ts.ScriptTarget | ts.CreateSourceFileOptions | undefined,
) {
  const file = getLibSourceFile(fileName, languageVersion ?? ts.ScriptTarget.ES2022);
  if (file) (file as ts.SourceFile & { version?: string }).version = LIB_VERSION;
  return file;
}

/**
 * A document registry that hands out typescript.ts's cached lib files and creates the snippet's versions
 * itself (nothing is shared between services, so nothing needs releasing).
 */
function registry(): ts.DocumentRegistry {
  const create = (
    fileName: string,
    snapshot: ts.IScriptSnapshot,
    version: string,
    kind: ts.ScriptKind | undefined,
    options: ts.CreateSourceFileOptions | ts.ScriptTarget | undefined,
  ): ts.SourceFile =>
    isLib(fileName) ? libFile(fileName, options)! : ts.createLanguageServiceSourceFile(
      fileName,
      snapshot,
      options ?? ts.ScriptTarget.ES2022,
      version,
      true,
      kind,
    );
  return {
    acquireDocument: (fileName, _settings, snapshot, version, kind, options) =>
      create(fileName, snapshot, version, kind, options),
    acquireDocumentWithKey: (fileName, _path, _settings, _key, snapshot, version, kind, options) =>
      create(fileName, snapshot, version, kind, options),
    updateDocument: (fileName, _settings, snapshot, version, kind, options) =>
      create(fileName, snapshot, version, kind, options),
    updateDocumentWithKey: (fileName, _path, _settings, _key, snapshot, version, kind, options) =>
      create(fileName, snapshot, version, kind, options),
    getKeyForCompilationSettings: () => "snippet" as ts.DocumentRegistryBucketKey,
    releaseDocument: () => {},
    releaseDocumentWithKey: () => {},
    reportStats: () => "",
  };
}

const FORMAT = ts.getDefaultFormatCodeSettings("\n");
/** Code fixes that would need other files, a command, or that only silence the checker are not offered. */
const SKIPPED_FIXES = new Set(["disableJsDiagnostics", "fixCannotFindModule", "installTypesPackage"]);

export class SnippetService {
  readonly fileName: string;
  readonly filePath: string;
  readonly options: ts.CompilerOptions;
  #code = "";
  #version = 0;
  #service: ts.LanguageService;
  #checked = new Map<string, CheckedSnippet>();

  constructor(fileName = "snippet.ts") {
    const setup = snippetSetup(fileName);
    this.fileName = setup.fileName;
    this.filePath = setup.filePath;
    this.options = setup.options;
    const host: ts.LanguageServiceHost = {
      getScriptFileNames: () => [this.filePath],
      getScriptVersion: (name) => (isLib(name) ? LIB_VERSION : String(this.#version)),
      getScriptSnapshot: (name) => {
        if (name === this.filePath) return ts.ScriptSnapshot.fromString(this.#code);
        // The registry returns the cached lib file; the snapshot only says that it exists.
        return isLib(name) && libFile(name, this.options.target)
          ? ts.ScriptSnapshot.fromString("")
          : undefined;
      },
      getCurrentDirectory: () => "/src",
      getCompilationSettings: () => this.options,
      getDefaultLibFileName: (options) => `${LIB_DIR}/${ts.getDefaultLibFileName(options)}`,
      fileExists: (name) =>
        name === this.filePath || (isLib(name) && libFile(name, this.options.target) !== undefined),
      readFile: (name) => (name === this.filePath ? this.#code : undefined),
      directoryExists: (dir) => dir === "/src" || dir === "/" || dir === LIB_DIR,
      getDirectories: () => [],
      useCaseSensitiveFileNames: () => true,
    };
    this.#service = ts.createLanguageService(host, registry(), ts.LanguageServiceMode.Semantic);
  }

  /** Compiles `code` (once: a text seen before returns the same result). */
  check(code: string): CheckedSnippet {
    const seen = this.#checked.get(code);
    if (seen) return seen;
    this.#select(code);
    const program = this.#service.getProgram();
    const sourceFile = program?.getSourceFile(this.filePath);
    if (!program || !sourceFile) throw new Error(`internal error: ${this.filePath} missing from the program`);
    const checked: CheckedSnippet = {
      code,
      program,
      checker: program.getTypeChecker(),
      sourceFile,
      diagnostics: programDiagnostics(program, sourceFile),
    };
    this.#checked.set(code, checked);
    return checked;
  }

  /** TypeScript's own code fixes for `diagnostic` of `snippet`, each applied to the whole file. */
  codeFixes(snippet: CheckedSnippet, diagnostic: Diagnostic): CompilerFix[] {
    this.#select(snippet.code);
    let actions: readonly ts.CodeFixAction[];
    try {
      actions = this.#service.getCodeFixesAtPosition(
        this.filePath,
        diagnostic.start,
        diagnostic.start + diagnostic.length,
        [diagnostic.numericCode],
        FORMAT,
        {},
      );
    } catch {
      return []; // a code fix that fails on this code offers nothing
    }
    const fixes: CompilerFix[] = [];
    for (const action of actions) {
      if (SKIPPED_FIXES.has(action.fixName) || action.commands?.length) continue;
      const edits = action.changes.flatMap((c) => (c.fileName === this.filePath ? c.textChanges : []));
      if (edits.length === 0 || action.changes.some((c) => c.fileName !== this.filePath)) continue;
      const code = applyEdits(snippet.code, edits);
      if (code !== snippet.code && !fixes.some((f) => f.code === code)) {
        fixes.push({ fixName: action.fixName, description: action.description, code });
      }
    }
    return fixes;
  }

  #select(code: string): void {
    if (code === this.#code && this.#version > 0) return;
    this.#code = code;
    this.#version++;
  }
}

/** `code` with the text changes applied (they do not overlap; applied from the end). */
export function applyEdits(code: string, edits: readonly ts.TextChange[]): string {
  let out = code;
  for (const edit of [...edits].sort((a, b) => b.span.start - a.span.start)) {
    out = out.slice(0, edit.span.start) + edit.newText + out.slice(edit.span.start + edit.span.length);
  }
  return out;
}
