// MCP tools over the batch queue (table typescript_errors, worked off by the pg_cron job process-ts-errors
// and the ts-error-worker function): list_typescript_errors (read-only) and queue_typescript_errors. Rows are
// the caller's own (RLS); a queued error belongs to the caller (owner defaults to auth.uid()).
import type postgres from "postgres";
import { z } from "zod";
import { asCaller } from "../db.ts";
import type { ToolContext, ToolDefs, ToolImpls } from "./tool.ts";
import { ToolError } from "./errors.ts";
import { fence, oneLine, untrustedBlock } from "./untrusted.ts";

export const STATUSES = ["pending", "processing", "ai_suggested", "failed", "resolved"] as const;

const QueuedError = z.object({
  id: z.string(),
  file_path: z.string(),
  line: z.number().int().nullable(),
  column: z.number().int().nullable(),
  error_code: z.string(),
  error_message: z.string().describe("Untrusted data."),
  status: z.enum(STATUSES),
  suggested_fix: z.string().nullable().describe("The fix the batch found (untrusted data), when asked for."),
  analysis_id: z.string().nullable(),
  attempts: z.number().int(),
  last_error: z.string().nullable(),
  created_at: z.string(),
  processed_at: z.string().nullable(),
});

export const queueToolDefs = {
  list_typescript_errors: {
    description: "Lists your TypeScript errors queued for batch fixing (newest first) with their status — " +
      "pending, processing, ai_suggested (a fix is ready), failed, resolved — and counts per status. Use it " +
      "to check on errors queued with queue_typescript_errors or `deno task fix --queue`. It never changes " +
      "anything; to fix one error right away use fix_code_error instead.",
    annotations: {
      title: "List queued TypeScript errors",
      readOnlyHint: true,
      destructiveHint: false,
      idempotentHint: true,
      openWorldHint: false,
    },
    untrusted: [
      "errors[].file_path",
      "errors[].error_message",
      "errors[].suggested_fix",
      "errors[].last_error",
    ],
    input: z.object({
      status: z.enum(STATUSES).optional().describe("Only errors with this status."),
      file_path_prefix: z.string().max(500).optional().describe(
        "Only errors in files whose path starts with this.",
      ),
      limit: z.number().int().min(1).max(200).default(20).describe("At most this many errors (1–200)."),
      include_fixes: z.boolean().default(false).describe("Include each suggested fix (can be long)."),
    }),
    output: z.object({
      counts: z.object(Object.fromEntries(STATUSES.map((s) => [s, z.number().int()])) as Record<
        typeof STATUSES[number],
        z.ZodNumber
      >).describe("Errors per status (within file_path_prefix, when given)."),
      errors: z.array(QueuedError),
    }),
  },
  queue_typescript_errors: {
    description:
      "Queues TypeScript errors for the batch fixer: each becomes a pending row of yours that the " +
      "cron job hands to the fixer within minutes; follow them with list_typescript_errors. Use it for many " +
      "errors at once (a whole project); do not use it for one error you want fixed now (use fix_code_error). An error " +
      "already pending or processing for the same file, position, code and message is skipped.",
    annotations: {
      title: "Queue TypeScript errors",
      readOnlyHint: false,
      destructiveHint: false,
      idempotentHint: true,
      openWorldHint: false,
    },
    untrusted: ["queued[].file_path"],
    input: z.object({
      errors: z.array(z.object({
        file_path: z.string().trim().min(1).max(500).describe("The file's path, e.g. src/user.ts."),
        line: z.number().int().min(1).optional().describe("1-based line of the error."),
        column: z.number().int().min(1).optional().describe("1-based column of the error."),
        error_code: z.string().regex(/^TS\d{3,5}$/, "must look like TS2322").describe("e.g. TS2322."),
        error_message: z.string().trim().min(1).max(4_000).describe("The compiler's message."),
        code_snippet: z.string().min(1).max(100_000).describe(
          "The file's content (or the part around the error).",
        ),
      })).min(1).max(100).describe("1–100 errors."),
    }),
    output: z.object({
      queued: z.array(z.object({ id: z.string(), file_path: z.string(), error_code: z.string() })),
      skipped: z.number().int().describe("Errors left out because they were already waiting."),
    }),
  },
} as const satisfies ToolDefs;

interface ErrorRow {
  id: string;
  file_path: string;
  line: number | null;
  column: number | null;
  error_code: string;
  error_message: string;
  status: typeof STATUSES[number];
  suggested_fix: string | null;
  analysis_id: string | null;
  attempts: number;
  last_error: string | null;
  created_at: Date;
  processed_at: Date | null;
}

/** Inserts the caller's errors (RLS: owner = auth.uid()); the per-user cap's refusal is a sentence for them. */
async function queueAs(caller: ToolContext["caller"], items: postgres.JSONValue[]) {
  try {
    return await asCaller(
      caller,
      (tx) =>
        tx<{ id: string; file_path: string; error_code: string }[]>`
              insert into public.typescript_errors (file_path, line, "column", error_code, error_message, code_snippet)
              select distinct on (i.file_path, i.line, i."column", i.error_code, i.error_message)
                     i.file_path, i.line, i."column", i.error_code, i.error_message, i.code_snippet
              from jsonb_to_recordset(${tx.json(items)}) as i(
                file_path text, line int, "column" int, error_code text, error_message text, code_snippet text)
              where not exists (
                select 1 from public.typescript_errors e
                where e.owner is not distinct from auth.uid()
                  and e.status in ('pending', 'processing')
                  and e.file_path = i.file_path and e.line is not distinct from i.line
                  and e."column" is not distinct from i."column"
                  and e.error_code = i.error_code and e.error_message = i.error_message)
              returning id, file_path, error_code`,
    );
  } catch (error) {
    // ai._typescript_errors_cap: too many of the caller's errors are pending or processing.
    if ((error as { code?: string }).code === "54000") throw new ToolError((error as Error).message + ".");
    throw error;
  }
}

export function getQueueTools({ caller }: ToolContext): ToolImpls<typeof queueToolDefs> {
  return {
    list_typescript_errors: {
      async execute(input) {
        const prefix = input.file_path_prefix ?? null;
        const status = input.status ?? null;
        const { rows, counts } = await asCaller(caller, async (tx) => {
          const rows = await tx<ErrorRow[]>`
            select id, file_path, line, "column", error_code, error_message, status,
                   case when ${input.include_fixes} then suggested_fix end as suggested_fix,
                   analysis_id, attempts, last_error, created_at, processed_at
            from public.typescript_errors
            where (${status}::text is null or status = ${status})
              and (${prefix}::text is null or starts_with(file_path, ${prefix}))
            order by created_at desc, id
            limit ${input.limit}`;
          const counts = await tx<{ status: string; n: number }[]>`
            select status, count(*)::int as n from public.typescript_errors
            where ${prefix}::text is null or starts_with(file_path, ${prefix})
            group by status`;
          return { rows, counts };
        });
        const byStatus = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<
          typeof STATUSES[number],
          number
        >;
        for (const c of counts) byStatus[c.status as typeof STATUSES[number]] = c.n;
        return {
          counts: byStatus,
          errors: rows.map((r) => ({
            ...r,
            created_at: new Date(r.created_at).toISOString(),
            processed_at: r.processed_at ? new Date(r.processed_at).toISOString() : null,
          })),
        };
      },
      render(out) {
        const summary = STATUSES.map((s) => `${s} ${out.counts[s]}`).join(", ");
        if (out.errors.length === 0) return `Queued errors: ${summary}. None match.`;
        const body = out.errors.map((e) =>
          [
            `- ${e.id} ${e.file_path}${
              e.line ? `:${e.line}${e.column ? `:${e.column}` : ""}` : ""
            } ${e.error_code} ` +
            `[${e.status}, ${e.attempts} attempt(s)]: ${oneLine(e.error_message)}`,
            ...(e.last_error ? [`  last error: ${oneLine(e.last_error)}`] : []),
            ...(e.suggested_fix ? ["  suggested fix:", fence(e.suggested_fix)] : []),
          ].join("\n")
        ).join("\n");
        return [`Queued errors: ${summary}.`, untrustedBlock(body, "queued errors from the database")].join(
          "\n",
        );
      },
    },
    queue_typescript_errors: {
      async execute(input) {
        const items = input.errors.map((e) => ({
          file_path: e.file_path,
          line: e.line ?? null,
          column: e.column ?? null,
          error_code: e.error_code,
          error_message: e.error_message,
          code_snippet: e.code_snippet,
        }));
        const queued = await queueAs(caller, items);
        return { queued, skipped: items.length - queued.length };
      },
      render(out) {
        return `Queued ${out.queued.length} error(s) for the batch fixer` +
          `${out.skipped ? ` (${out.skipped} already waiting, skipped)` : ""}. ` +
          "Follow them with list_typescript_errors.";
      },
    },
  };
}
