// POST /functions/v1/fix-code-error
//   {"error": "TS2322: Type 'string' is not assignable to type 'number'.", "code": "...", "file_path": "src/a.ts",
//    "error_code"?: "TS2322", "model"?: "<one of LLM_ALLOWED_MODELS>"}
// → {"success", "fix", "verified", "confidence", "source": "llm" | "retrieval" | "none", "similar", "stored",
//    "error_code", "error_message", "model", "provider", "explanation", "verification", "reference", "attempts",
//    "warnings"}
// The flow is in ../_shared/code_fix.ts. Signed-in users and the service role; rate limited per user.
import { z } from "zod";
import { requireUserOrService } from "../_shared/auth.ts";
import { fixForCaller } from "../_shared/code_fix.ts";
import { json, readJson, route } from "../_shared/http.ts";

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
  return json(await fixForCaller(caller, "fix-code-error", body, "fix-code-error", req.signal));
}));
