// Command line of `deno task fix`: options, their environment fallbacks, and the help text.
import { isAbsolute, resolve } from "node:path";
import { parseArgs } from "node:util";
import { CliError } from "./errors.ts";

export const DEFAULT_URL = "http://127.0.0.1:54321";

export const HELP = `deno task fix [path] [options]
deno run -A <path-to>/cli/fix.ts --project ../my-app [options]

Type-checks a TypeScript project (its tsconfig.json) and fixes its compiler errors with the project's
fix-code-error function, showing each fix as a unified diff.

  [path], --project <dir>  the project folder (holding tsconfig.json) or a tsconfig file (default: .)

Modes (default: show a fix for every error, change nothing):
  --apply          write verified fixes, one at a time: verified by the server and again here (the error is
                   gone, nothing new, nothing silenced, no code lost), and whose diff removes no more code
                   than it adds; anything else is refused, with the reason. Shows each diff; after each
                   write, re-checks the project and takes the change back if the project got worse.
                   Asks per fix in a terminal (y/n/all/quit). Keeps the files as they were in .fix-undo.json.
  -y, --yes        with --apply: apply every verified fix without asking
  --undo           put back the files the last --apply run changed (files edited since are left alone)
  --queue          queue the errors for the batch fixer (table typescript_errors, pg_cron) instead
  --status         show the queued errors of this key's user: progress and results
  --list           only list the diagnostics (no server needed)

Server:
  --url <url>      the project's URL (env SUPABASE_URL; default ${DEFAULT_URL})
  --key <key>      a user's JWT or the service key (env SUPABASE_KEY)
  --model <name>   one of the server's LLM_ALLOWED_MODELS

Output:
  --json           one JSON document on stdout (for scripts); implies no prompts
  --limit <n>      send at most n errors
  --no-feedback    do not record accepted/rejected fixes (code-fix-feedback)
  -h, --help

Exit status: 0 done, 1 some requests failed (or --undo left files), 2 usage, connection or credential problem.`;

export interface Options {
  mode: "fix" | "apply" | "queue" | "status" | "list" | "undo";
  project: string;
  url: string;
  key: string | null;
  yes: boolean;
  json: boolean;
  feedback: boolean;
  limit: number;
  model: string | null;
  help: boolean;
}

/** Where relative paths are meant from: `deno task` runs in the config's folder and keeps the caller's in INIT_CWD. */
function callerCwd(): string {
  return Deno.env.get("INIT_CWD") || Deno.cwd();
}

export function parseOptions(
  args: string[],
  env: (name: string) => string | undefined = Deno.env.get,
): Options {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        project: { type: "string" },
        url: { type: "string" },
        key: { type: "string" },
        apply: { type: "boolean", default: false },
        yes: { type: "boolean", short: "y", default: false },
        queue: { type: "boolean", default: false },
        status: { type: "boolean", default: false },
        list: { type: "boolean", default: false },
        undo: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        "no-feedback": { type: "boolean", default: false },
        limit: { type: "string" },
        model: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    throw new CliError(`${(error as Error).message}. See --help.`);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new CliError(`One project path at most, got: ${positionals.join(" ")}.`);
  if (positionals.length === 1 && values.project) {
    throw new CliError("Give the project as [path] or --project, not both.");
  }
  const modes = (["apply", "queue", "status", "list", "undo"] as const).filter((m) => values[m]);
  if (modes.length > 1) throw new CliError(`--${modes.join(" and --")} cannot be combined.`);
  if (values.yes && !values.apply) throw new CliError("--yes only goes with --apply.");
  let limit = Infinity;
  if (values.limit !== undefined) {
    limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1) {
      throw new CliError(`--limit must be a positive integer, got ${values.limit}.`);
    }
  }
  const target = values.project ?? positionals[0] ?? ".";
  const url = (values.url ?? env("SUPABASE_URL") ?? DEFAULT_URL).replace(/\/+$/, "");
  try {
    const parsedUrl = new URL(url);
    if (!/^https?:$/.test(parsedUrl.protocol)) throw new Error("not http");
  } catch {
    throw new CliError(`--url must be an http(s) URL such as ${DEFAULT_URL}, got "${url}".`);
  }
  return {
    mode: modes[0] ?? "fix",
    project: isAbsolute(target) ? target : resolve(callerCwd(), target),
    url,
    key: values.key ?? env("SUPABASE_KEY") ?? null,
    yes: values.yes,
    json: values.json,
    feedback: !values["no-feedback"],
    limit,
    model: values.model ?? null,
    help: values.help,
  };
}
