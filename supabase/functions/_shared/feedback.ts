// A user's verdict on a stored fix (code-fix-feedback and the MCP submit_fix_feedback tool): accepted fixes
// rank first in retrieval, rejected ones are never retrieved. The status column is the server's (users cannot
// write it: migration 20261211110400), so the verdict is written here, for the caller's own fixes only — a
// signed-in user judges their own rows, the service role any row; shared knowledge-base rows never.
import type { Caller } from "./auth.ts";
import { db } from "./db.ts";

export interface Feedback {
  analysisId: string;
  verdict: "accepted" | "rejected";
  note?: string;
}

/** The updated row, or null when there is no such fix of the caller's. */
export async function recordFeedback(
  caller: Pick<Caller, "role" | "userId">,
  { analysisId, verdict, note }: Feedback,
): Promise<{ id: string; status: Feedback["verdict"]; feedback_at: Date } | null> {
  const sql = db();
  const anyOwner = caller.role === "service_role";
  const [row] = await sql<{ id: string; status: Feedback["verdict"]; feedback_at: Date }[]>`
    update public.code_analysis
    set status = ${verdict}, feedback_at = now(),
        metadata = metadata || ${sql.json(note ? { feedback_note: note } : {})}
    where id = ${analysisId} and not shared and (${anyOwner} or owner = ${caller.userId}::uuid)
    returning id, status, feedback_at`;
  return row ?? null;
}
