// MCP tools that fix TypeScript errors and record what the user thought of a fix: fix_code_error (the
// fix-code-error flow, ../code_fix.ts) and submit_fix_feedback (as the code-fix-feedback function).
import { z } from "zod";
import { fixForCaller } from "../code_fix.ts";
import { recordFeedback } from "../feedback.ts";
import type { ToolContext, ToolDefs, ToolImpls } from "./tool.ts";
import { ToolError } from "./errors.ts";
import { fence, oneLine, untrustedBlock } from "./untrusted.ts";

const errorCode = z.string().regex(/^(TS)?\d{3,5}$/i, "must look like TS2322");

export const fixToolDefs = {
  fix_code_error: {
    description: "Suggests a fix for one TypeScript compiler error in a piece of code. Give the compiler's " +
      "message and the code (the whole file, or the part around the error). Tried in order: TypeScript's own " +
      "code fixes (`source: compiler`), the most similar past fixes of the same error adapted to this code " +
      "(`source: retrieval`), then the configured LLM. `verified` is true only when every rule passed for this " +
      "code (`verification.rules`): the error is gone, nothing new appears, nothing is silenced (any, casts " +
      "through unknown/never, @ts-ignore) and the rest of the code is kept (no declaration, statement or code " +
      "outside the error's region lost). With nothing verified and no LLM, the nearest past fix is returned as " +
      "it was written for other code (never verified for yours). " +
      "The analysis is stored; pass its `analysis_id` to submit_fix_feedback once the user accepts or " +
      "rejects it. Use it for compiler errors (TSxxxx); do not use it for runtime errors, lint warnings or " +
      "general code review, and do not use it only to look up past fixes (use find_similar_errors).",
    annotations: {
      title: "Fix a TypeScript error",
      readOnlyHint: false,
      destructiveHint: false,
      idempotentHint: false,
      openWorldHint: true,
    },
    untrusted: ["fix", "explanation", "error_message", "verification.introduced[].message"],
    input: z.object({
      error: z.string().trim().min(1).max(4_000).describe(
        "The compiler's message, e.g. \"TS2322: Type 'string' is not assignable to type 'number'.\" " +
          "(a `file(line,col): error TSxxxx:` prefix is fine).",
      ),
      code: z.string().min(1).max(50_000).describe(
        "The TypeScript code that has the error: the whole file, or at least the surrounding function.",
      ),
      file_path: z.string().trim().min(1).max(500).optional().describe(
        "The file's path, e.g. src/user.ts; a .tsx path turns on JSX.",
      ),
      error_code: errorCode.optional().describe(
        "The diagnostic code, e.g. TS2322; read from `error` or found by compiling `code` when omitted.",
      ),
      model: z.string().min(1).max(200).optional().describe(
        "One of the models the server allows (LLM_ALLOWED_MODELS); the server's default when omitted.",
      ),
    }),
    output: z.object({
      success: z.boolean().describe("A fix was found (from the compiler, retrieval or the LLM)."),
      fix: z.string().nullable().describe("The complete corrected code, or null."),
      verified: z.boolean().describe("Every verification rule passed for this code."),
      confidence: z.number().min(0).max(1).describe(
        "0–1 from what was checked: verified ≥ 0.7, a past fix as written < 0.5, a fix that failed a rule < 0.4.",
      ),
      source: z.enum(["compiler", "retrieval", "llm", "none"]).describe("Where the fix comes from."),
      error_code: z.string().nullable().describe("The diagnostic code the fix is for."),
      error_message: z.string().describe("The compiler message the fix is for."),
      analysis_id: z.string().nullable().describe(
        "The stored analysis (for submit_fix_feedback); null when nothing was stored.",
      ),
      reference: z.object({
        id: z.string(),
        similarity: z.number(),
        verified: z.boolean(),
        status: z.string(),
        adapted: z.boolean().describe("Rewritten for this code and verified (else shown as written)."),
      }).nullable().describe("The past fix a retrieval answer was taken from."),
      explanation: z.string().nullable().describe("One sentence on what changed."),
      verification: z.object({
        reason: z.string(),
        rules: z.array(z.object({ rule: z.string(), passed: z.boolean(), detail: z.string() })).describe(
          "Each verification rule, passed or not, with why.",
        ),
        region: z.string().nullable().describe("The part of the code the fix may change."),
        cheats: z.array(z.string()),
        introduced: z.array(z.object({ code: z.string(), line: z.number(), message: z.string() })),
      }).nullable().describe("The verdict of the rules on the fix, for this code."),
      tried: z.array(z.object({
        source: z.string(),
        name: z.string(),
        verified: z.boolean(),
        failed: z.array(z.string()),
      })).describe("Every candidate checked, in order, with the rules it failed."),
      similar: z.array(z.object({
        id: z.string(),
        error_code: z.string().nullable(),
        similarity: z.number(),
        status: z.string(),
        verified: z.boolean(),
      })).describe("The past fixes retrieval found (most similar first)."),
      model: z.string().nullable(),
      provider: z.string().nullable(),
      warnings: z.array(z.string()),
      cached: z.boolean().describe(
        "Answered from the fix answer cache: an identical earlier request's verified answer, still valid.",
      ),
    }),
  },
  submit_fix_feedback: {
    description: "Records whether the user accepted or rejected a fix that fix_code_error stored (by its " +
      "analysis_id). Accepted fixes rank first when similar errors are looked up later; rejected ones are " +
      "never suggested again. Call it only with the user's own verdict, after they have seen the fix; do not " +
      "call it to guess, and not for knowledge-base entries (they cannot be judged).",
    annotations: {
      title: "Accept or reject a fix",
      readOnlyHint: false,
      destructiveHint: false,
      idempotentHint: true,
      openWorldHint: false,
    },
    input: z.object({
      analysis_id: z.uuid().describe("The analysis_id that fix_code_error returned."),
      feedback: z.enum(["accepted", "rejected"]).describe("The user's verdict."),
      note: z.string().max(2_000).optional().describe("Why, in the user's words (optional)."),
    }),
    output: z.object({
      id: z.string().describe("The analysis judged."),
      status: z.enum(["accepted", "rejected"]).describe("The verdict now recorded."),
      feedback_at: z.string().describe("When (ISO 8601)."),
    }),
  },
} as const satisfies ToolDefs;

export function getFixTools({ caller, signal }: ToolContext): ToolImpls<typeof fixToolDefs> {
  return {
    fix_code_error: {
      async execute(input) {
        const outcome = await fixForCaller(caller, "mcp", input, undefined, signal);
        return {
          success: outcome.success,
          fix: outcome.fix,
          verified: outcome.verified,
          confidence: outcome.confidence,
          source: outcome.source,
          error_code: outcome.error_code,
          error_message: outcome.error_message,
          analysis_id: outcome.stored?.id ?? null,
          reference: outcome.reference,
          explanation: outcome.explanation,
          verification: outcome.verification && {
            reason: outcome.verification.reason,
            rules: outcome.verification.rules,
            region: outcome.verification.region,
            cheats: outcome.verification.cheats,
            introduced: outcome.verification.introduced.map((d) => ({
              code: d.code,
              line: d.line,
              message: d.message,
            })),
          },
          similar: outcome.similar.map((s) => ({
            id: s.id,
            error_code: s.error_code,
            similarity: s.similarity,
            status: s.status,
            verified: s.verified,
          })),
          tried: outcome.tried,
          model: outcome.model,
          provider: outcome.provider,
          warnings: outcome.warnings,
          cached: outcome.cached,
        };
      },
      render(out) {
        if (!out.success) {
          return [
            `No fix found for ${out.error_code ?? "this error"}.`,
            ...out.warnings.map((w) => `Warning: ${w}`),
          ].join("\n");
        }
        const verdict = out.verified
          ? `verified: every rule passed (${out.verification?.rules.length ?? 0})`
          : `NOT verified (${out.verification?.reason ?? "unknown"})`;
        const how = out.source === "llm"
          ? `Suggested by ${out.provider}/${out.model}; ${verdict}.`
          : out.source === "compiler"
          ? `TypeScript's own code fix (${out.model}); ${verdict}.`
          : out.reference?.adapted
          ? `The most similar past fix of ${out.error_code} (similarity ${
            out.reference.similarity.toFixed(2)
          }), adapted to this code; ${verdict}.`
          : `Taken from the most similar past fix of ${out.error_code} (similarity ${
            out.reference?.similarity.toFixed(2)
          }); it was written for other code and is not verified for yours: adapt it.`;
        return [
          `Fix for ${out.error_code ?? "the error"} (confidence ${out.confidence.toFixed(2)}). ${how}`,
          out.analysis_id
            ? `analysis_id: ${out.analysis_id} (send the user's verdict with submit_fix_feedback)`
            : "Nothing was stored for feedback.",
          ...out.warnings.map((w) => `Warning: ${w}`),
          "",
          untrustedBlock(
            [
              ...(out.explanation ? [`Explanation: ${oneLine(out.explanation, 500)}`] : []),
              "Fixed code:",
              fence(out.fix ?? ""),
            ].join("\n"),
            "the suggested fix and its explanation (generated from code you sent and from stored fixes)",
          ),
        ].join("\n");
      },
    },
    submit_fix_feedback: {
      async execute(input) {
        const row = await recordFeedback(caller, {
          analysisId: input.analysis_id,
          verdict: input.feedback,
          note: input.note,
        });
        if (!row) {
          throw new ToolError(
            `There is no fix ${input.analysis_id} of yours to give feedback on (knowledge-base entries and ` +
              "other users' fixes cannot be judged).",
          );
        }
        return { id: row.id, status: row.status, feedback_at: new Date(row.feedback_at).toISOString() };
      },
      render(out) {
        return `Recorded: fix ${out.id} ${out.status} at ${out.feedback_at}.`;
      },
    },
  };
}
