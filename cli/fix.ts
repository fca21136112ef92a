// `deno task fix [path]` — fix a TypeScript project's compiler errors with this project's edge functions.
// Also runs from anywhere: `deno run -A <path-to>/cli/fix.ts --project ../my-app`. See `--help` (args.ts).
//
//   fixer.ts   the interactive flow: diagnostics → fix-code-error → unified diffs → --apply with re-checks
//   queue.ts   --queue / --status through the mcp function's queue tools
//   project.ts the TypeScript compiler API over the project's tsconfig.json
//   api.ts     HTTP + MCP client, with clear errors for an unreachable URL or a refused key
import { Api } from "./api.ts";
import { HELP, type Options, parseOptions } from "./args.ts";
import { CliError } from "./errors.ts";
import { type FixRun, runFix } from "./fixer.ts";
import { checkProject, loadProject, type Project, type ProjectDiagnostic } from "./project.ts";
import { queueDiagnostics, queueStatus, renderStatus } from "./queue.ts";
import { bold, dim, green, indent, Progress, red, stdinIsTerminal, table, yellow } from "./ui.ts";
import { UNDO_FILE, undoLastRun } from "./undo.ts";

function requireKey(options: Options): Api {
  if (!options.key) {
    throw new CliError(
      "No key: pass --key or set SUPABASE_KEY to a user's JWT or the service key " +
        "(`npx -y deno@2 task status` prints the local ones).",
    );
  }
  return new Api(options.url, options.key);
}

function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

function diagnosticJson(d: ProjectDiagnostic) {
  return {
    file: d.file,
    line: d.line,
    column: d.column,
    code: d.code,
    category: d.category,
    message: d.message,
    frame: d.frame,
  };
}

function projectJson(project: Project) {
  return { root: project.root, config: project.configPath };
}

function renderDiagnostics(diagnostics: ProjectDiagnostic[]): string {
  if (diagnostics.length === 0) return green("No diagnostics: the project compiles cleanly.");
  return diagnostics.map((d) =>
    `${d.file ? `${d.file}:${d.line}:${d.column}` : "(project)"}  ${yellow(d.code)}  ${d.message}` +
    (d.frame ? `\n${dim(indent(d.frame))}` : "")
  ).join("\n\n") + `\n\n${diagnostics.length} diagnostic(s).`;
}

const OUTCOME_TEXT: Record<string, (text: string) => string> = {
  applied: green,
  verified: green,
  unverified: yellow,
  declined: dim,
  rolled_back: red,
  refused: red,
  failed: red,
  no_fix: dim,
  fixed_by_earlier: green,
  skipped: dim,
};

function renderRun(run: FixRun, apply: boolean): string {
  const rows = [["where", "code", "result", "source", "confidence"]];
  for (const r of run.results) {
    rows.push([
      r.file ? `${r.file}:${r.line}:${r.column}` : "(project)",
      r.code,
      (OUTCOME_TEXT[r.outcome] ?? ((t: string) => t))(r.outcome.replace(/_/g, " ")),
      r.source ?? "",
      r.confidence === null ? "" : r.confidence.toFixed(2),
    ]);
  }
  const s = run.summary;
  const summary = [
    ["diagnostics", String(s.diagnostics)],
    ["fixed", String(s.fixed)],
    ["verified", String(s.verified)],
    ...(apply
      ? [["applied", String(s.applied)], ["refused", String(s.refused)], [
        "rolled back",
        String(s.rolled_back),
      ]]
      : []),
    ["failed", String(s.failed)],
    ...(apply ? [["remaining", String(s.remaining)]] : []),
    ["time", `${(s.ms / 1000).toFixed(1)} s`],
  ];
  const where = (r: FixRun["results"][number]) => `${r.file}:${r.line}:${r.column} ${r.code}`;
  const applied = run.results.filter((r) => r.outcome === "applied");
  const notWritten = run.results.filter((r) => ["refused", "rolled_back"].includes(r.outcome));
  return [
    "",
    bold("Results"),
    run.results.length ? table(rows) : "(none)",
    "",
    bold("Summary"),
    table([["", ""], ...summary]).split("\n").slice(2).join("\n"),
    ...(apply && applied.length
      ? ["", bold("Applied"), ...applied.map((r) => `  ${green("✔")} ${where(r)}`)]
      : []),
    ...(apply && notWritten.length
      ? [
        "",
        bold("Refused (not written)"),
        ...notWritten.map((r) => `  ${red("✘")} ${where(r)}: ${r.reason}`),
      ]
      : []),
    ...(apply && applied.length
      ? ["", dim(`Undo this run with --undo (the files as they were are in ${UNDO_FILE}).`)]
      : []),
    ...(!apply && s.verified > 0 ? ["", dim("Run again with --apply to write the verified fixes.")] : []),
  ].join("\n");
}

async function main(options: Options): Promise<number> {
  if (options.help) {
    console.log(HELP);
    return 0;
  }
  const project = loadProject(options.project);

  if (options.mode === "undo") {
    const report = await undoLastRun(project.root);
    if (options.json) printJson({ project: projectJson(project), ...report });
    else {
      console.log([
        `Undo of the run of ${report.run_at}:`,
        ...report.restored.map((f) => `  ${green("restored")} ${f}`),
        ...report.unchanged.map((f) => `  ${dim("already as before")} ${f}`),
        ...report.conflicts.map((f) => `  ${red("left alone")} ${f} (changed since the run)`),
      ].join("\n"));
    }
    return report.conflicts.length > 0 ? 1 : 0;
  }

  if (options.mode === "list") {
    const { diagnostics } = checkProject(project);
    if (options.json) {
      printJson({ project: projectJson(project), diagnostics: diagnostics.map(diagnosticJson) });
    } else console.log(renderDiagnostics(diagnostics));
    return 0;
  }

  if (options.mode === "status") {
    const api = requireKey(options);
    try {
      const report = await queueStatus(api, options.limit, options.json);
      if (options.json) printJson({ project: projectJson(project), ...report });
      else console.log(renderStatus(report));
      return 0;
    } finally {
      await api.close();
    }
  }

  if (options.mode === "queue") {
    const api = requireKey(options);
    try {
      const started = performance.now();
      const { diagnostics } = checkProject(project);
      const errors = diagnostics.filter((d) => d.fixable && d.category === "error").slice(0, options.limit);
      const progress = new Progress(errors.length);
      const report = errors.length ? await queueDiagnostics(api, errors, (done) => progress.update(done)) : {
        queued: 0,
        skipped: 0,
        ids: [],
      };
      progress.done();
      const ms = Math.round(performance.now() - started);
      if (options.json) {
        printJson({ project: projectJson(project), diagnostics: diagnostics.length, ...report, ms });
      } else {
        console.log(
          `Queued ${report.queued} of ${errors.length} error(s) for the batch fixer` +
            `${report.skipped ? ` (${report.skipped} already waiting)` : ""} in ${
              (ms / 1000).toFixed(1)
            } s. ` +
            "Follow them with --status.",
        );
      }
      return 0;
    } finally {
      await api.close();
    }
  }

  const apply = options.mode === "apply";
  if (apply && !options.yes && (options.json || !stdinIsTerminal())) {
    throw new CliError(
      "--apply asks before each fix, which needs a terminal: add --yes to apply every verified fix.",
    );
  }
  const api = requireKey(options);
  try {
    const run = await runFix(project, api, {
      apply,
      yes: options.yes,
      json: options.json,
      feedback: options.feedback,
      limit: options.limit,
      model: options.model,
    });
    if (options.json) {
      printJson({
        project: projectJson(project),
        mode: options.mode,
        diagnostics: run.diagnostics.map(diagnosticJson),
        results: run.results,
        summary: run.summary,
        ...(apply ? { remaining: run.remaining.map(diagnosticJson) } : {}),
      });
    } else {
      console.log(renderRun(run, apply));
    }
    return run.summary.failed > 0 ? 1 : 0;
  } finally {
    await api.close();
  }
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(parseOptions(Deno.args));
  } catch (error) {
    if (error instanceof CliError) {
      console.error(red(`error: ${error.message}`));
      code = error.exitCode;
    } else {
      console.error(error);
      code = 1;
    }
  }
  Deno.exit(code);
}
