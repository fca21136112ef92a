// The interactive fix flow: every error of the project goes to fix-code-error (the file's content, or a
// window of it for very large files), and each answer is shown as a unified diff.
//
// The CLI cannot lose code. With --apply, a fix is written only when
//   1. the server verified it (every rule of verify_fix.ts, on the file alone),
//   2. the CLI verifies it again here with the same rules (a server of another version, or one that lies,
//      cannot get a cheat written),
//   3. its diff removes no more code lines than it adds (comment and blank lines aside; REMOVAL_FIXES error
//      classes may drop up to REMOVAL_ALLOWANCE lines), and
//   4. the user accepts it (or --yes);
// anything else is "refused", with the reason. Before a file is first written, its content goes into the undo
// journal (undo.ts): `deno task fix --undo` restores the last run's files. After each write the whole project
// is checked again, and the file is restored when the project got worse — a new diagnostic anywhere, the error
// still there, or no fewer diagnostics than before (a fix verified on one file can still break its importers).
// Files are fixed one error at a time, each request with the file as it is now. Accepted, declined, refused
// and rolled-back fixes are recorded as feedback.
import type ts from "typescript";
import { REMOVAL_FIXES, verifyFix } from "../supabase/functions/_shared/verify_fix.ts";
import { type Api, type FixResponse, RequestFailed } from "./api.ts";
import { diffLines, unifiedDiff } from "./diff.ts";
import { CliError } from "./errors.ts";
import {
  checkProject,
  diagnosticKey,
  newDiagnostics,
  type Project,
  type ProjectDiagnostic,
} from "./project.ts";
import { ask, dim, green, indent, paintDiff, Progress, red, yellow } from "./ui.ts";
import { UndoJournal } from "./undo.ts";

export type Outcome =
  | "applied"
  | "verified"
  | "unverified"
  | "no_fix"
  | "declined"
  | "rolled_back"
  | "refused"
  | "failed"
  | "fixed_by_earlier"
  | "skipped";

export interface FixResult {
  file: string | null;
  line: number;
  column: number;
  code: string;
  message: string;
  outcome: Outcome;
  source: FixResponse["source"] | null;
  verified: boolean;
  confidence: number | null;
  analysis_id: string | null;
  /** file: the file before → after the fix; reference: how the nearest past fix changed its own code. */
  diff_of: "file" | "reference" | null;
  diff: string | null;
  /** Why: the rules' verdict, why the CLI refused it, the request's error, or what made the project worse. */
  reason: string | null;
  feedback: "accepted" | "rejected" | null;
}

export interface FixSummary {
  diagnostics: number;
  fixed: number;
  verified: number;
  applied: number;
  rolled_back: number;
  /** Fixes not written: not verified, refused by the CLI's own checks, or past fixes for other code. */
  refused: number;
  failed: number;
  remaining: number;
  ms: number;
}

export interface FixRun {
  results: FixResult[];
  summary: FixSummary;
  diagnostics: ProjectDiagnostic[];
  remaining: ProjectDiagnostic[];
}

export interface FixOptions {
  apply: boolean;
  yes: boolean;
  json: boolean;
  feedback: boolean;
  limit: number;
  model: string | null;
}

/** The most fix-code-error accepts as code. */
const MAX_CODE = 50_000;

interface Window {
  code: string;
  /** 0-based first line and line count of the window in the file (whole file: 0, all). */
  first: number;
  count: number;
  whole: boolean;
}

/** The file, or the lines around `line` when the file is too large to send whole. */
export function windowOf(content: string, line: number): Window {
  const lines = content.split("\n");
  if (content.length <= MAX_CODE) return { code: content, first: 0, count: lines.length, whole: true };
  for (let radius = 200; radius >= 5; radius = Math.floor(radius / 2)) {
    const first = Math.max(0, line - 1 - radius);
    const last = Math.min(lines.length, line + radius);
    const code = lines.slice(first, last).join("\n");
    if (code.length <= MAX_CODE) return { code, first, count: last - first, whole: false };
  }
  const code = lines[line - 1]?.slice(0, MAX_CODE) ?? "";
  return { code, first: line - 1, count: 1, whole: false };
}

/** The file after the fix: the fix spliced in for the window, with the file's line endings and final newline. */
export function applyFix(content: string, window: Window, fix: string): string {
  const crlf = content.includes("\r\n");
  let body = fix.replace(/\r\n/g, "\n");
  let result: string;
  if (window.whole) {
    const finalNewline = content.replace(/\r\n/g, "\n").endsWith("\n");
    if (finalNewline && !body.endsWith("\n")) body += "\n";
    result = body;
  } else {
    const lines = content.replace(/\r\n/g, "\n").split("\n");
    lines.splice(window.first, window.count, ...body.replace(/\n$/, "").split("\n"));
    result = lines.join("\n");
  }
  return crlf ? result.replace(/\n/g, "\r\n") : result;
}

/** Net code lines a fix of a REMOVAL_FIXES error class may remove (a duplicate declaration, an import). */
const REMOVAL_ALLOWANCE = 10;

const isCodeLine = (line: string) => line.trim() !== "" && !/^\s*(\/\/|\/\*|\*)/.test(line);

/** Code lines the diff removes beyond those it adds (blank and comment-only lines do not count). */
export function netLinesRemoved(before: string, after: string): number {
  const edits = diffLines(before.split("\n"), after.split("\n"));
  const removed = edits.filter((e) => e.kind === "-" && isCodeLine(e.line)).length;
  const added = edits.filter((e) => e.kind === "+" && isCodeLine(e.line)).length;
  return removed - added;
}

/**
 * Why the CLI will not write this fix (null: it may): the server did not verify it, the CLI's own run of
 * the rules refuses it, or its diff removes more than it must.
 */
export function refusal(
  d: Pick<ProjectDiagnostic, "file" | "code" | "message">,
  window: { code: string },
  response: Pick<FixResponse, "verified" | "fix" | "verification">,
  content: string,
  fixed: string,
): string | null {
  if (!response.verified || response.fix === null) {
    return `not verified: ${response.verification?.reason ?? "the server did not verify it"}`;
  }
  const local = verifyFix({
    code: window.code,
    fixedCode: response.fix,
    errorCode: d.code,
    errorMessage: d.message,
    fileName: d.file?.endsWith(".tsx") ? "snippet.tsx" : "snippet.ts",
  });
  if (!local.verified) return `the CLI's own check refuses it: ${local.reason}`;
  const lost = netLinesRemoved(content, fixed);
  const allowed = REMOVAL_FIXES.has(d.code) ? REMOVAL_ALLOWANCE : 0;
  if (lost > allowed) {
    return `its diff removes ${lost} more line(s) of code than it adds (at most ${allowed} for ${d.code})`;
  }
  return null;
}

function label(d: Pick<ProjectDiagnostic, "file" | "line" | "column">): string {
  return d.file ? `${d.file}:${d.line}:${d.column}` : "(project)";
}

function firstLine(text: string): string {
  return text.split("\n")[0];
}

class Fixer {
  readonly results: FixResult[] = [];
  #files = new Map<string, string>();
  #requests = 0;
  #applyAll: boolean;
  #quit = false;
  #progress: Progress;
  #program: ts.Program;
  #journal: UndoJournal;

  constructor(
    private project: Project,
    private api: Api,
    private options: FixOptions,
    private current: ProjectDiagnostic[],
    program: ts.Program,
    total: number,
  ) {
    this.#applyAll = options.yes;
    this.#program = program;
    this.#journal = new UndoJournal(project.root);
    this.#progress = new Progress(total);
  }

  get diagnostics(): ProjectDiagnostic[] {
    return this.current;
  }

  #print(text: string): void {
    if (!this.options.json) this.#progress.print(text);
  }

  async #read(path: string): Promise<string> {
    if (!this.#files.has(path)) this.#files.set(path, await Deno.readTextFile(path));
    return this.#files.get(path)!;
  }

  #result(d: ProjectDiagnostic, fields: Partial<FixResult> & { outcome: Outcome }): FixResult {
    const result = resultFor(d, fields);
    this.results.push(result);
    return result;
  }

  get budgetLeft(): boolean {
    return this.#requests < this.options.limit && !this.#quit;
  }

  /** Asks fix-code-error about one diagnostic with the file as it is now; shows the answer. */
  async #ask(
    d: ProjectDiagnostic,
  ): Promise<{ result: FixResult; response: FixResponse | null; window: Window }> {
    this.#requests++;
    this.#progress.update(this.#requests - 1, `${label(d)} ${d.code}`);
    const content = await this.#read(d.path!);
    const window = windowOf(content, d.line);
    this.#print(`\n${label(d)}  ${yellow(d.code)}  ${firstLine(d.message)}\n${dim(indent(d.frame))}`);
    let response: FixResponse;
    try {
      response = await this.api.fixCodeError({
        error: `${d.code}: ${d.message}`,
        code: window.code,
        file_path: d.file!,
        error_code: d.code,
        ...(this.options.model ? { model: this.options.model } : {}),
      });
    } catch (error) {
      if (!(error instanceof RequestFailed)) throw error;
      this.#print(indent(red(`✘ request failed: ${error.message}`)));
      this.#progress.update(this.#requests);
      return {
        result: this.#result(d, { outcome: "failed", reason: error.message }),
        response: null,
        window,
      };
    }
    this.#progress.update(this.#requests);
    const common = {
      source: response.source,
      verified: response.verified,
      confidence: response.confidence,
      analysis_id: response.stored?.id ?? null,
    };
    if (!response.success || response.fix === null) {
      this.#print(
        indent(dim(`no fix found${response.warnings.length ? ` (${response.warnings.join("; ")})` : ""}`)),
      );
      return { result: this.#result(d, { ...common, outcome: "no_fix" }), response, window };
    }
    if (response.source === "retrieval" && !response.reference?.adapted) {
      // A past fix written for other code: show how it changed that code, not a diff against this file.
      const ref = response.similar.find((s) => s.id === response.reference?.id);
      const diff = ref
        ? unifiedDiff(ref.code_snippet, ref.suggested_fix, {
          fromFile: "past/before.ts",
          toFile: "past/after.ts",
        })
        : null;
      this.#print(indent([
        yellow(
          `~ nearest past fix of ${response.error_code} (similarity ${
            response.reference?.similarity.toFixed(2)
          }; written for other code, not verified for yours):`,
        ),
        ...(diff ? [paintDiff(diff.trimEnd())] : []),
      ].join("\n")));
      return {
        result: this.#result(d, {
          ...common,
          outcome: this.options.apply ? "refused" : "unverified",
          diff_of: diff ? "reference" : null,
          diff,
          reason: "retrieval: a past fix of the same error in other code, not verified for this code",
        }),
        response,
        window,
      };
    }
    const fixed = applyFix(content, window, response.fix);
    const diff = unifiedDiff(content, fixed, { fromFile: `a/${d.file}`, toFile: `b/${d.file}` });
    const who = response.source === "compiler"
      ? `TypeScript's code fix ${response.model}`
      : response.source === "retrieval"
      ? `past fix ${response.reference?.id.slice(0, 8)} adapted`
      : `${response.provider}/${response.model}`;
    const refused = diff ? refusal(d, window, response, content, fixed) : "the fix changes nothing";
    const verdict = !refused
      ? green(`✔ fix (${who}, verified, confidence ${response.confidence.toFixed(2)})`)
      : response.verified
      ? red(`✘ fix (${who}) refused: ${refused}`)
      : yellow(`~ fix (${who}, NOT verified: ${response.verification?.reason})`);
    this.#print(indent(`${verdict}\n${paintDiff((diff || "(no change)").trimEnd())}`));
    return {
      result: this.#result(d, {
        ...common,
        outcome: !refused ? "verified" : response.verified || this.options.apply ? "refused" : "unverified",
        diff_of: "file",
        diff,
        reason: refused ?? response.verification?.reason ?? null,
      }),
      response,
      window,
    };
  }

  async #feedback(result: FixResult, verdict: "accepted" | "rejected", note: string): Promise<void> {
    if (!this.options.feedback || !result.analysis_id) return;
    try {
      await this.api.feedback(result.analysis_id, verdict, note);
      result.feedback = verdict;
    } catch (error) {
      if (error instanceof CliError) throw error;
      this.#print(indent(yellow(`(could not record the feedback: ${(error as Error).message})`)));
    }
  }

  /** Dry run: one request per diagnostic, all with the files as they are. */
  async showAll(diagnostics: ProjectDiagnostic[]): Promise<void> {
    for (const d of diagnostics) {
      if (!this.budgetLeft) {
        this.#result(d, { outcome: "skipped", reason: "--limit reached" });
        continue;
      }
      await this.#ask(d);
    }
    this.#progress.done();
  }

  #decide(): "yes" | "no" | "quit" {
    if (this.#applyAll) return "yes";
    const answer = ask("  Apply this fix?");
    if (answer === null) return "no"; // not a terminal (the caller refuses that without --yes)
    if (answer === "all") this.#applyAll = true;
    if (answer === "quit") this.#quit = true;
    return answer === "all" ? "yes" : answer;
  }

  /** --apply: file by file, one error at a time, re-checking the project after each applied fix. */
  async applyAll(diagnostics: ProjectDiagnostic[]): Promise<void> {
    const files = [...new Set(diagnostics.map((d) => d.path!))];
    for (const path of files) {
      const initial = diagnostics.filter((d) => d.path === path);
      const wanted = new Map<string, number>();
      for (const d of initial) wanted.set(diagnosticKey(d), (wanted.get(diagnosticKey(d)) ?? 0) + 1);
      const tried = new Map<string, number>();
      while (this.budgetLeft) {
        const next = this.current.find((d) =>
          d.path === path && (tried.get(diagnosticKey(d)) ?? 0) < (wanted.get(diagnosticKey(d)) ?? 0)
        );
        if (!next) break;
        tried.set(diagnosticKey(next), (tried.get(diagnosticKey(next)) ?? 0) + 1);
        const { result, response, window } = await this.#ask(next);
        if (result.outcome === "refused" && response?.verified) {
          await this.#feedback(result, "rejected", `refused by \`deno task fix\`: ${result.reason}`);
        }
        if (result.outcome !== "verified" || !response?.fix) continue;
        const decision = this.#decide();
        if (decision !== "yes") {
          result.outcome = "declined";
          await this.#feedback(result, "rejected", "declined in `deno task fix`");
          this.#print(indent(dim("→ not applied")));
          if (decision === "quit") break;
          continue;
        }
        await this.#applyChecked(next, result, window, response.fix);
      }
      // Errors of this file that were never sent: gone thanks to an earlier fix, or left by --limit / quit
      // (while requests are allowed, the loop above sends every error that is still there).
      for (const key of wanted.keys()) {
        const sent = tried.get(key) ?? 0;
        const left = this.current.filter((d) => d.path === path && diagnosticKey(d) === key).length;
        const unsent = initial.filter((d) => diagnosticKey(d) === key).slice(sent);
        unsent.forEach((d, i) => {
          const stillThere = i < Math.max(0, left - sent);
          this.#result(d, {
            outcome: stillThere ? "skipped" : "fixed_by_earlier",
            reason: stillThere
              ? (this.#quit ? "quit" : "--limit reached")
              : "gone after an earlier fix in this file",
          });
        });
      }
    }
    this.#progress.done();
  }

  async #applyChecked(d: ProjectDiagnostic, result: FixResult, window: Window, fix: string): Promise<void> {
    const path = d.path!;
    const before = this.current;
    const original = await this.#read(path);
    const fixed = applyFix(original, window, fix);
    await this.#journal.record(d.file!, original, fixed);
    await Deno.writeTextFile(path, fixed);
    const recheck = checkProject(this.project, this.#program);
    const after = recheck.diagnostics;
    const introduced = newDiagnostics(before, after);
    const key = diagnosticKey(d);
    const targetBefore = before.filter((x) => diagnosticKey(x) === key).length;
    const targetAfter = after.filter((x) => diagnosticKey(x) === key).length;
    const problems: string[] = [];
    if (introduced.length > 0) {
      problems.push(
        `it adds ${
          introduced.slice(0, 3).map((x) => `${x.code} at ${label(x)} (${firstLine(x.message)})`).join(", ")
        }` +
          (introduced.length > 3 ? ` and ${introduced.length - 3} more` : ""),
      );
    }
    if (targetAfter >= targetBefore) problems.push(`${d.code} is still reported in ${d.file}`);
    if (after.length >= before.length && problems.length === 0) {
      problems.push(`the project still has ${after.length} diagnostics`);
    }
    if (problems.length > 0) {
      await Deno.writeTextFile(path, original);
      await this.#journal.forget(d.file!, original);
      // The program of the restored files is the one from before the fix.
      result.outcome = "rolled_back";
      result.reason = `rolled back: ${problems.join("; ")}`;
      this.#print(indent(red(`↺ ${result.reason}`)));
      await this.#feedback(result, "rejected", `made the project worse when applied: ${problems.join("; ")}`);
      return;
    }
    this.#files.set(path, fixed);
    this.current = after;
    this.#program = recheck.program;
    result.outcome = "applied";
    this.#print(indent(green(`→ applied (project: ${before.length} → ${after.length} diagnostics)`)));
    await this.#feedback(result, "accepted", "applied by `deno task fix`; the project re-check passed");
  }
}

export function summarize(
  results: FixResult[],
  diagnostics: number,
  remaining: number,
  ms: number,
): FixSummary {
  const count = (...outcomes: Outcome[]) => results.filter((r) => outcomes.includes(r.outcome)).length;
  return {
    diagnostics,
    fixed: count("applied", "verified", "unverified", "declined", "rolled_back", "refused"),
    verified: results.filter((r) => r.verified).length,
    applied: count("applied"),
    rolled_back: count("rolled_back"),
    refused: count("refused"),
    failed: count("failed"),
    remaining,
    ms: Math.round(ms),
  };
}

/** Runs the fix flow over the project's diagnostics (errors in the project's own files). */
/** A diagnostic's result row: nothing done yet, unless `fields` says otherwise. */
function resultFor(d: ProjectDiagnostic, fields: Partial<FixResult> & { outcome: Outcome }): FixResult {
  return {
    file: d.file,
    line: d.line,
    column: d.column,
    code: d.code,
    message: d.message,
    source: null,
    verified: false,
    confidence: null,
    analysis_id: null,
    diff_of: null,
    diff: null,
    reason: null,
    feedback: null,
    ...fields,
  };
}

export async function runFix(project: Project, api: Api, options: FixOptions): Promise<FixRun> {
  const started = performance.now();
  const first = checkProject(project);
  const all = first.diagnostics;
  const fixable = all.filter((d) => d.fixable && d.category === "error");
  const fixer = new Fixer(project, api, options, all, first.program, Math.min(fixable.length, options.limit));
  for (const d of all.filter((d) => !(d.fixable && d.category === "error"))) {
    fixer.results.push(resultFor(d, {
      outcome: "skipped",
      reason: d.file === null
        ? "not in a file"
        : d.category !== "error"
        ? d.category
        : "not a file of the project",
    }));
  }
  if (options.apply) await fixer.applyAll(fixable);
  else await fixer.showAll(fixable);
  const remaining = options.apply ? checkProject(project).diagnostics : all;
  return {
    results: fixer.results,
    diagnostics: all,
    remaining,
    summary: summarize(fixer.results, all.length, remaining.length, performance.now() - started),
  };
}
