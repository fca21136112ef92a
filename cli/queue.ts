// Batch mode. --queue sends the project's errors to the mcp function's queue_typescript_errors tool, which
// inserts them into typescript_errors as pending rows of the key's user (RLS: owner = auth.uid(), status
// pending); pg_cron's process-ts-errors job hands them to the ts-error-worker. --status reads them back with
// list_typescript_errors.
//
// Why through the mcp function: the CLI then needs nothing but the URL and the user's key, locally and on a
// hosted project alike (no PostgREST in the local stack, no database password on the user's machine), and
// the database — not the CLI — decides whose rows they are.
import type { Api } from "./api.ts";
import type { ProjectDiagnostic } from "./project.ts";
import { windowOf } from "./fixer.ts";
import { table } from "./ui.ts";

const STATUSES = ["pending", "processing", "ai_suggested", "failed", "resolved"] as const;
type Status = typeof STATUSES[number];

interface QueuedError {
  id: string;
  file_path: string;
  line: number | null;
  column: number | null;
  error_code: string;
  error_message: string;
  status: Status;
  suggested_fix: string | null;
  analysis_id: string | null;
  attempts: number;
  last_error: string | null;
  created_at: string;
  processed_at: string | null;
}

export interface QueueReport {
  queued: number;
  skipped: number;
  ids: string[];
}

export interface StatusReport {
  counts: Record<Status, number>;
  errors: QueuedError[];
}

/** At most this many errors, and about this many bytes, per tool call. */
const BATCH_ERRORS = 50;
const BATCH_BYTES = 2_000_000;

export async function queueDiagnostics(
  api: Api,
  diagnostics: ProjectDiagnostic[],
  onBatch: (done: number) => void = () => {},
): Promise<QueueReport> {
  const contents = new Map<string, string>();
  const items = [];
  for (const d of diagnostics) {
    if (!contents.has(d.path!)) contents.set(d.path!, await Deno.readTextFile(d.path!));
    const content = contents.get(d.path!)!;
    items.push({
      file_path: d.file!,
      line: d.line,
      column: d.column,
      error_code: d.code,
      error_message: d.message.slice(0, 4_000),
      code_snippet: content.length <= 100_000 ? content : windowOf(content, d.line).code,
    });
  }
  const report: QueueReport = { queued: 0, skipped: 0, ids: [] };
  let batch: typeof items = [];
  let bytes = 0;
  let done = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const out = await api.tool<{ queued: { id: string }[]; skipped: number }>("queue_typescript_errors", {
      errors: batch,
    });
    report.queued += out.queued.length;
    report.skipped += out.skipped;
    report.ids.push(...out.queued.map((q) => q.id));
    done += batch.length;
    onBatch(done);
    batch = [];
    bytes = 0;
  };
  for (const item of items) {
    const size = item.code_snippet.length + item.error_message.length + 200;
    if (batch.length >= BATCH_ERRORS || (batch.length > 0 && bytes + size > BATCH_BYTES)) await flush();
    batch.push(item);
    bytes += size;
  }
  await flush();
  return report;
}

export async function queueStatus(api: Api, limit: number, withFixes: boolean): Promise<StatusReport> {
  return await api.tool<StatusReport>("list_typescript_errors", {
    limit: Math.min(200, Number.isFinite(limit) ? limit : 50),
    include_fixes: withFixes,
  });
}

export function renderStatus(report: StatusReport): string {
  const total = STATUSES.reduce((sum, s) => sum + report.counts[s], 0);
  const done = report.counts.ai_suggested + report.counts.failed + report.counts.resolved;
  const lines = [
    `Queued errors: ${total} (${done} done, ${report.counts.pending} pending, ${report.counts.processing} processing)`,
    STATUSES.map((s) => `${s} ${report.counts[s]}`).join(" · "),
  ];
  if (report.errors.length > 0) {
    const rows = [["id", "where", "code", "status", "tries", "result"]];
    for (const e of report.errors) {
      rows.push([
        e.id.slice(0, 8),
        `${e.file_path}${e.line ? `:${e.line}` : ""}`,
        e.error_code,
        e.status,
        String(e.attempts),
        e.status === "ai_suggested"
          ? `fix ready${e.analysis_id ? ` (analysis ${e.analysis_id.slice(0, 8)})` : ""}`
          : e.last_error
          ? e.last_error.replace(/\s+/g, " ").slice(0, 60)
          : "",
      ]);
    }
    lines.push("", table(rows));
  }
  return lines.join("\n");
}
