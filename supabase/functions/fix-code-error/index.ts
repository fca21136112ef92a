// POST /functions/v1/fix-code-error
//   {"error": "TS2322: Type 'string' is not assignable to type 'number'.", "code": "...", "file_path": "src/a.ts",
//    "error_code"?: "TS2322", "model"?: "<one of LLM_ALLOWED_MODELS>"}
// → {"success", "fix", "verified", "confidence", "source": "llm" | "retrieval" | "none", "similar", "stored",
//    "error_code", "error_message", "model", "provider", "explanation", "verification", "reference", "attempts",
//    "warnings"}
// The flow is in ../_shared/code_fix.ts. Signed-in users and the service role; rate limited per user.
import { z } from "zod";
import { requireUserOrService } from "../_shared/auth.ts";
import { fixCodeError } from "../_shared/code_fix.ts";
import { json, readJson, route } from "../_shared/http.ts";
import { enforceRateLimit, enforceTokenBudget } from "../_shared/limits.ts";
import { configuredLlm } from "../_shared/llm_env.ts";

const Body = z.object({
  error: z.string().trim().min(1, "must not be empty").max(4_000),
  code: z.string().min(1, "must not be empty").max(50_000, "must be at most 50000 characters"),
  file_path: z.string().trim().min(1).max(500).optional(),
  error_code: z.string().regex(/^(TS)?\d{3,5}$/i, "must look like TS2322").optional(),
  model: z.string().min(1).max(200).optional(),
}).strict();

Deno.serve(route(["POST"], async (req) => {
  const caller = await requireUserOrService(req);
  const body = await readJson(req, Body, 200_000);
  const llm = configuredLlm();
  if (body.model) llm?.resolveModel(body.model); // 400 before any work when the model is not allowed
  await enforceRateLimit(caller, "fix-code-error");
  if (llm) await enforceTokenBudget(caller);

  const outcome = await fixCodeError(
    { owner: caller.userId, actor: caller, llm, functionName: "fix-code-error" },
    {
      error: body.error,
      code: body.code,
      filePath: body.file_path,
      errorCode: body.error_code,
      model: body.model,
    },
  );
  return json(outcome);
}));
