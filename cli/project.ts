// A TypeScript project as `tsc -p` sees it: its tsconfig.json, its files, and every diagnostic the compiler
// reports for them (ts.getPreEmitDiagnostics: options, syntax, globals, semantics), each with its file,
// 1-based line/column, TSxxxx code, flattened message and a code frame. Re-checks reuse the previous program.
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import ts from "typescript";
import { codeFrame } from "../supabase/functions/_shared/typescript.ts";
import { introducedBy } from "../supabase/functions/_shared/verify_fix.ts";
import { CliError } from "./errors.ts";

export interface Project {
  /** Folder of the tsconfig; paths in diagnostics are relative to it. */
  root: string;
  configPath: string;
  options: ts.CompilerOptions;
  fileNames: string[];
  projectReferences?: readonly ts.ProjectReference[];
  configErrors: readonly ts.Diagnostic[];
}

export interface ProjectDiagnostic {
  /** Path relative to the project root (forward slashes), or null for a diagnostic without a file. */
  file: string | null;
  /** Absolute path, or null. */
  path: string | null;
  line: number;
  column: number;
  /** "TS2322" */
  code: string;
  category: "error" | "warning" | "suggestion" | "message";
  message: string;
  /** A few lines around the position with a caret; empty without a file. */
  frame: string;
  /** True when the file is the project's own (not a declaration file from node_modules or outside). */
  fixable: boolean;
}

export interface CheckResult {
  diagnostics: ProjectDiagnostic[];
  program: ts.Program;
}

const CATEGORY = ["warning", "error", "suggestion", "message"] as const;

/** Finds and parses the project's tsconfig: `target` is a folder (holding tsconfig.json) or a tsconfig file. */
export function loadProject(target: string): Project {
  const absolute = resolve(target);
  let stat: Deno.FileInfo;
  try {
    stat = Deno.statSync(absolute);
  } catch {
    throw new CliError(`${absolute} does not exist: pass a project folder or its tsconfig.json.`);
  }
  const configPath = stat.isDirectory ? join(absolute, "tsconfig.json") : absolute;
  if (!ts.sys.fileExists(configPath)) {
    throw new CliError(
      `No tsconfig.json in ${absolute}: pass the folder that holds the project's tsconfig.json.`,
    );
  }
  const read = ts.readConfigFile(configPath, ts.sys.readFile);
  if (read.error) {
    throw new CliError(
      `Cannot read ${configPath}: ${ts.flattenDiagnosticMessageText(read.error.messageText, "\n")}`,
    );
  }
  const root = dirname(configPath);
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, root, undefined, configPath);
  // "No inputs were found" (TS18003) is the only fatal one: there is nothing to check.
  const noInputs = parsed.errors.find((e) => e.code === 18003);
  if (noInputs) {
    throw new CliError(`${configPath}: ${ts.flattenDiagnosticMessageText(noInputs.messageText, "\n")}`);
  }
  return {
    root,
    configPath,
    options: parsed.options,
    fileNames: parsed.fileNames,
    projectReferences: parsed.projectReferences,
    configErrors: parsed.errors,
  };
}

function toDiagnostic(project: Project, d: ts.Diagnostic): ProjectDiagnostic {
  const message = ts.flattenDiagnosticMessageText(d.messageText, "\n");
  const base = { code: `TS${d.code}`, category: CATEGORY[d.category], message };
  if (!d.file || d.start === undefined) {
    return { ...base, file: null, path: null, line: 0, column: 0, frame: "", fixable: false };
  }
  const pos = d.file.getLineAndCharacterOfPosition(d.start);
  const path = d.file.fileName;
  const rel = relative(project.root, path).split("\\").join("/");
  const inside = !rel.startsWith("..") && !isAbsolute(rel);
  return {
    ...base,
    file: inside ? rel : path,
    path,
    line: pos.line + 1,
    column: pos.character + 1,
    frame: codeFrame(d.file.text, pos.line + 1, pos.character + 1),
    fixable: inside && !rel.split("/").includes("node_modules") && !/\.d\.[cm]?ts$/.test(rel),
  };
}

/** Parsed source files by path, kept while their text stays the same (lib files are parsed once). */
const parsedFiles = new Map<string, { text: string; file: ts.SourceFile }>();

function cachingHost(options: ts.CompilerOptions): ts.CompilerHost {
  const host = ts.createCompilerHost(options, true);
  const read = host.readFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, onError) => {
    const text = read(fileName);
    if (text === undefined) {
      onError?.(`Cannot read ${fileName}`);
      return undefined;
    }
    const cached = parsedFiles.get(fileName);
    if (cached && cached.text === text) return cached.file;
    const file = ts.createSourceFile(fileName, text, languageVersion, true);
    parsedFiles.set(fileName, { text, file });
    return file;
  };
  return host;
}

/** Type-checks the project (unchanged files are not parsed again) and returns its diagnostics in order. */
export function checkProject(project: Project, previous?: ts.Program): CheckResult {
  const program = ts.createProgram({
    rootNames: project.fileNames,
    options: project.options,
    projectReferences: project.projectReferences,
    configFileParsingDiagnostics: project.configErrors,
    host: cachingHost(project.options),
    oldProgram: previous,
  });
  const found = [...project.configErrors, ...ts.getPreEmitDiagnostics(program)];
  const diagnostics = ts.sortAndDeduplicateDiagnostics(found).map((d) => toDiagnostic(project, d));
  return { diagnostics, program };
}

/** A diagnostic's identity for before/after comparisons (positions move when code is edited). */
export function diagnosticKey(d: Pick<ProjectDiagnostic, "file" | "code" | "message">): string {
  return `${d.file ?? ""}\u0000${d.code}\u0000${d.message}`;
}

/** Diagnostics of `after` not accounted for by `before` (by file, code and message; counted). */
export function newDiagnostics(before: ProjectDiagnostic[], after: ProjectDiagnostic[]): ProjectDiagnostic[] {
  return introducedBy(before, after, diagnosticKey);
}
