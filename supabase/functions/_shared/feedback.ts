// A user's verdict on a stored fix (code-fix-feedback and the MCP submit_fix_feedback tool): accepted fixes
// rank first in retrieval, rejected ones are never retrieved. Runs as the caller, so a user can judge only
// their own fixes; shared knowledge-base rows cannot be judged.
import type { Caller } from "./auth.ts";
import { asCaller } from "./db.ts";

export interface Feedback {
  analysisId: string;
  verdict: "accepted" | "rejected";
  note?: string;
}

/** The updated row, or null when there is no such fix of the caller's. */
export async function recordFeedback(
  caller: Pick<Caller, "role" | "claims">,
  { analysisId, verdict, note }: Feedback,
): Promise<{ id: string; status: Feedback["verdict"]; feedback_at: Date } | null> {
  const [row] = await asCaller(
    caller,
    (tx) =>
      tx<{ id: string; status: Feedback["verdict"]; feedback_at: Date }[]>`
      update public.code_analysis
      set status = ${verdict}, feedback_at = now(),
          metadata = metadata || ${tx.json(note ? { feedback_note: note } : {})}
      where id = ${analysisId} and not shared
      returning id, status, feedback_at`,
  );
  return row ?? null;
}
