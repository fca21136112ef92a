// POST /functions/v1/code-fix-feedback {"analysis_id": "<uuid>", "feedback": "accepted" | "rejected", "note"?: "..."}
// Records the user's verdict on a stored fix. Accepted fixes rank first in retrieval; rejected ones are never
// retrieved again. A user can judge only their own fixes (RLS); 404 otherwise.
import { z } from "zod";
import { requireUserOrService } from "../_shared/auth.ts";
import { asCaller } from "../_shared/db.ts";
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

  const [row] = await asCaller(caller, (tx) =>
    tx`
      update public.code_analysis
      set status = ${body.feedback}, feedback_at = now(),
          metadata = metadata || ${tx.json(body.note ? { feedback_note: body.note } : {})}
      where id = ${body.analysis_id} and not shared
      returning id, status, feedback_at`);
  if (!row) {
    throw new HttpError(
      404,
      "analysis_not_found",
      `No fix ${body.analysis_id} of yours to give feedback on.`,
    );
  }
  return json({ id: row.id, status: row.status, feedback_at: row.feedback_at });
}));
