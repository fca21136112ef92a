/**
 * TypeScript language services over one virtual snippet file, for fix requests: the original code and every
 * candidate fix are versions of the same file, so each is compiled once per request (`check` keeps the result
 * by text), and the compiler's own code fixes (`getCodeFixesAtPosition`) come from the program that checked
 * the original.
 *
 *   const service = new SnippetService("snippet.ts");   // one per request: what it compiled, by text
 *   const original = service.check(code);          // program, checker, diagnostics (as diagnoseSnippet)
 *   service.codeFixes(original, diagnostic);       // [{ fixName, description, code }] — not verified
 *
 * The language service underneath is the isolate's, one per file name (and lib setup, see typescript.ts),
 * kept between requests: a new version of the snippet reuses the previous program's structure (the parsed lib,
 * which typescript.ts caches, its references and resolutions), so a compile is the snippet's parse, a new type
 * checker and its diagnostics, not a whole program built again. Everything is synchronous, so requests in
 * flight at once never see each other's versions; each CheckedSnippet keeps its own program and checker.
 */
import ts from "typescript";
import {
  type Diagnostic,
  getLibSourceFile,
  LIB_DIR,
  libFilesGeneration,
  needsSeparateLibs,
  programDiagnostics,
  ROOT_DIR,
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
export const isLib = (name: string) => name.startsWith(`${LIB_DIR}/`);

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

/** Whether `name` is a lib file the compiler can load (typescript.ts's cache). */
export const libExists = (name: string, options: ts.CompilerOptions) =>
  isLib(name) && libFile(name, options.target) !== undefined;

/**
 * A language service over snippet texts and the cached lib files (nothing else exists for it): `texts(name)` is a
 * snippet's text and version, or undefined; `resolveModuleNameLiterals`, when given, replaces the compiler's
 * module resolution.
 */
export function snippetLanguageService(
  options: ts.CompilerOptions,
  rootNames: () => string[],
  texts: (name: string) => { code: string; version: string } | undefined,
  resolveModuleNameLiterals?: ts.LanguageServiceHost["resolveModuleNameLiterals"],
): ts.LanguageService {
  const host: ts.LanguageServiceHost = {
    getScriptFileNames: rootNames,
    getScriptVersion: (name) => (isLib(name) ? LIB_VERSION : texts(name)?.version ?? "0"),
    getScriptSnapshot: (name) => {
      const text = texts(name);
      if (text) return ts.ScriptSnapshot.fromString(text.code);
      // The registry returns the cached lib file; the snapshot only says that it exists.
      return libExists(name, options) ? ts.ScriptSnapshot.fromString("") : undefined;
    },
    getCurrentDirectory: () => ROOT_DIR,
    getCompilationSettings: () => options,
    getDefaultLibFileName: (o) => `${LIB_DIR}/${ts.getDefaultLibFileName(o)}`,
    fileExists: (name) => texts(name) !== undefined || libExists(name, options),
    readFile: (name) => texts(name)?.code,
    directoryExists: (dir) => dir === ROOT_DIR || dir === "/" || dir === LIB_DIR,
    getDirectories: () => [],
    useCaseSensitiveFileNames: () => true,
    ...(resolveModuleNameLiterals ? { resolveModuleNameLiterals } : {}),
  };
  return ts.createLanguageService(host, registry(), ts.LanguageServiceMode.Semantic);
}

/**
 * The isolate's language service for one snippet file name, with the combined lib or the lib files one by one
 * (typescript.ts); `select` makes a text its current version.
 */
class SharedService {
  readonly filePath: string;
  readonly generation = libFilesGeneration();
  readonly service: ts.LanguageService;
  #text = { code: "", version: "0" };

  constructor(readonly fileName: string, combinedLib: boolean) {
    const setup = snippetSetup(fileName, combinedLib);
    this.filePath = setup.filePath;
    this.service = snippetLanguageService(
      setup.options,
      () => setup.rootNames,
      (name) => (name === this.filePath ? this.#text : undefined),
    );
  }

  select(code: string): void {
    if (code === this.#text.code && this.#text.version !== "0") return;
    this.#text = { code, version: String(Number(this.#text.version) + 1) };
  }
}

/** At most this many services are kept (requests use snippet.ts and snippet.tsx, each in two lib setups). */
const MAX_SHARED_SERVICES = 8;
const shared = new Map<string, SharedService>();

function sharedService(fileName: string, combinedLib: boolean): SharedService {
  const key = `${combinedLib ? "combined" : "separate"}:${fileName}`;
  let found = shared.get(key);
  if (found && found.generation !== libFilesGeneration()) found = undefined;
  if (!found) {
    found = new SharedService(fileName, combinedLib);
    shared.delete(key);
    shared.set(key, found);
    while (shared.size > MAX_SHARED_SERVICES) shared.delete(shared.keys().next().value!);
  }
  return found;
}

export class SnippetService {
  readonly fileName: string;
  readonly filePath: string;
  #checked = new Map<string, CheckedSnippet>();

  constructor(fileName = "snippet.ts") {
    const setup = snippetSetup(fileName);
    this.fileName = setup.fileName;
    this.filePath = setup.filePath;
  }

  /** The service that compiles `code`: the combined lib unless the code has reference lines of its own. */
  #serviceFor(code: string): SharedService {
    return sharedService(this.fileName, !needsSeparateLibs(code));
  }

  /** Compiles `code` (once: a text seen before returns the same result). */
  check(code: string): CheckedSnippet {
    const seen = this.#checked.get(code);
    if (seen) return seen;
    const shared = this.#serviceFor(code);
    shared.select(code);
    const program = shared.service.getProgram();
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

  /** The compiled `code`, if this request compiled it already. */
  seen(code: string): CheckedSnippet | undefined {
    return this.#checked.get(code);
  }

  /** Keeps a compile made elsewhere (ts_batch.ts) as this request's compile of its text. */
  remember(checked: CheckedSnippet): void {
    if (!this.#checked.has(checked.code)) this.#checked.set(checked.code, checked);
  }

  /** TypeScript's own code fixes for `diagnostic` of `snippet`, each applied to the whole file. */
  codeFixes(snippet: CheckedSnippet, diagnostic: Diagnostic): CompilerFix[] {
    const shared = this.#serviceFor(snippet.code);
    shared.select(snippet.code);
    return codeFixesAt(shared.service, this.filePath, snippet.code, diagnostic);
  }
}

/**
 * The code fixes `service` offers for `diagnostic` of the file at `filePath` (whose text is `code`), each applied
 * to the whole file: only fixes that edit this file alone, offer new code and need no command. `skip` names more
 * fixes not to offer (ts_batch.ts: `import`, which would import from the other snippets of its program).
 */
export function codeFixesAt(
  service: ts.LanguageService,
  filePath: string,
  code: string,
  diagnostic: Diagnostic,
  skip: ReadonlySet<string> = new Set(),
): CompilerFix[] {
  let actions: readonly ts.CodeFixAction[];
  try {
    actions = service.getCodeFixesAtPosition(
      filePath,
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
    if (SKIPPED_FIXES.has(action.fixName) || skip.has(action.fixName) || action.commands?.length) continue;
    const edits = action.changes.flatMap((c) => (c.fileName === filePath ? c.textChanges : []));
    if (edits.length === 0 || action.changes.some((c) => c.fileName !== filePath)) continue;
    const fixed = applyEdits(code, edits);
    if (fixed !== code && !fixes.some((f) => f.code === fixed)) {
      fixes.push({ fixName: action.fixName, description: action.description, code: fixed });
    }
  }
  return fixes;
}

/** `code` with the text changes applied (they do not overlap; applied from the end). */
export function applyEdits(code: string, edits: readonly ts.TextChange[]): string {
  let out = code;
  for (const edit of [...edits].sort((a, b) => b.span.start - a.span.start)) {
    out = out.slice(0, edit.span.start) + edit.newText + out.slice(edit.span.start + edit.span.length);
  }
  return out;
}
