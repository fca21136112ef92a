// POST /functions/v1/code-fix-feedback {"analysis_id": "<uuid>", "feedback": "accepted" | "rejected", "note"?: "..."}
// Records the user's verdict on a stored fix. Accepted fixes rank first in retrieval; rejected ones are never
// retrieved again. A user can judge only their own fixes (RLS); 404 otherwise.
import { z } from "zod";
import { requireUserOrService } from "../_shared/auth.ts";
import { recordFeedback } from "../_shared/feedback.ts";
import { HttpError, json, readJson, route } from "../_shared/http.ts";
import { enforceRateLimit } from "../_shared/limits.ts";

const Body = z.object({
  analysis_id: z.uuid("must be a uuid"),
  feedback: z.enum(["accepted", "rejected"]),
  note: z.string().max(2_000).optional(),
}).strict();

Deno.serve(route(["POST"], async (req) => {
  const caller = await requireUserOrService(req);
  const body = await readJson(req, Body);
  await enforceRateLimit(caller, "code-fix-feedback");

  const row = await recordFeedback(caller, {
    analysisId: body.analysis_id,
    verdict: body.feedback,
    note: body.note,
  });
  if (!row) {
    throw new HttpError(
      404,
      "analysis_not_found",
      `No fix ${body.analysis_id} of yours to give feedback on.`,
    );
  }
  return json({ id: row.id, status: row.status, feedback_at: row.feedback_at });
}));
