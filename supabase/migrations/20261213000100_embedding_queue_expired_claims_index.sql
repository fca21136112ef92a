-- Every claim first turns expired claims that used their last attempt into dead letters
-- (ai.claim_embedding_jobs: status 'processing' and run_after <= now()). The only index on run_after was the
-- ready index of every job not failed, so that step walked all pending jobs — the whole backlog — on each claim:
-- a backfill of N rows cost O(N²/batch) index entries (at 100k rows, claims of 64 took 7–9 ms at the start
-- instead of 2–3). This partial index holds the claimed jobs only, so the step reads just those.
-- bench/backfill.ts shows the backfill's rows/s at 10k and 100k rows.
create index embedding_jobs_processing_idx on ai.embedding_jobs (run_after) where status = 'processing';
comment on index ai.embedding_jobs_processing_idx is
  'Claimed jobs by claim expiry: the dead-letter step of ai.claim_embedding_jobs reads these, not the backlog.';
