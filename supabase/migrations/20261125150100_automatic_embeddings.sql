-- Automatic embeddings: register any table's text (a SQL expression over its columns) for embedding into one
-- of its vector columns; from then on every insert and every change of that text is embedded asynchronously
-- by the `embed-worker` edge function, and a vector is never left stale.
--
--   select ai.enable_embeddings('public.code_snippets', 'content', 'embedding');
--   select ai.enable_embeddings('public.docs', $$title || E'\n\n' || body$$, 'body_embedding', max_attempts => 8);
--   select * from ai.embedding_status;          -- pending / in flight / failed / oldest pending age per table
--   select ai.retry_failed_embeddings();        -- put dead-lettered jobs back in the queue
--   select ai.disable_embeddings('public.docs', 'body_embedding');
--
-- How it works
--   * insert: one job per new row whose vector is null (a statement-level trigger, so bulk loads are cheap)
--   * update of the text: the stale vector is cleared in the same transaction and a job (re)queued; an update
--     that leaves the text as it was queues nothing; an update that sets the text and a new (non-null) vector
--     together keeps the given vector; an update to null text drops the row's job; setting the vector of
--     unchanged text to null queues the row for a fresh vector
--   * delete: the row's pending jobs go too
--   * registering a table that already has rows queues every row without a vector (backfill)
--   * dropping a registered table: its registration and jobs are removed by the next claim or registration
--   * the worker claims jobs in batches (for update skip locked) with a visibility timeout, so a crashed
--     worker's jobs come back; it embeds a batch with one model call and writes each vector back only if the
--     row's text still hashes to what it embedded, so a slow worker can never write a stale vector
--   * a failed job is retried with exponential backoff (10 s, 20 s, 40 s … capped at 1 h); after max_attempts
--     it is marked failed with its last error and stays visible in ai.embedding_status and ai.embedding_jobs
--
-- Expressions are evaluated with an empty search_path: schema-qualify any function that is not built in.

-- Registry -----------------------------------------------------------------------------------------------------
create table ai.embedding_targets (
  id int generated always as identity primary key,
  source regclass not null,
  content text not null,
  embedding_column name not null,
  primary_key name not null,
  primary_key_type regtype not null,
  max_attempts int not null default 5 check (max_attempts between 1 and 100),
  created_at timestamptz not null default now(),
  unique (source, embedding_column)
);
comment on table ai.embedding_targets is 'Tables and columns registered with ai.enable_embeddings().';

create table ai.embedding_jobs (
  id bigint generated always as identity primary key,
  target_id int not null references ai.embedding_targets (id) on delete cascade,
  row_id text not null,
  status text not null default 'pending' check (status in ('pending', 'processing', 'failed')),
  attempts int not null default 0,
  -- pending: not to be claimed before this time (backoff); processing: the claim's visibility deadline
  run_after timestamptz not null default now(),
  claim_token uuid,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (target_id, row_id)
);
comment on table ai.embedding_jobs is
  'Embedding queue: one row per source row awaiting a vector; failed rows are the dead letters.';
create index embedding_jobs_ready_idx on ai.embedding_jobs (run_after, id) where status <> 'failed';

alter table ai.embedding_targets enable row level security;
alter table ai.embedding_jobs enable row level security;
-- No policies: only the owner (postgres) and service_role (bypasses RLS) reach these tables.
grant select on ai.embedding_targets, ai.embedding_jobs to service_role;

-- Queueing (triggers) ------------------------------------------------------------------------------------------
-- Puts rows' jobs (back) at the front of the queue, whatever state they were in.
create function ai._queue_embedding(target_id int, row_ids text[]) returns void
language sql
security definer
set search_path = ''
as $$
  insert into ai.embedding_jobs (target_id, row_id)
  select target_id, r from unnest(row_ids) r
  on conflict on constraint embedding_jobs_target_id_row_id_key do update
    set status = 'pending', attempts = 0, run_after = now(), claim_token = null, last_error = null,
        updated_at = now();
$$;

-- BEFORE UPDATE, per row. TG_ARGV: target id, primary key column, embedding column, content expression.
create function ai._embedding_on_update() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  old_content text;
  new_content text;
  vector_given boolean;
  vector_cleared boolean;
  row_key text;
begin
  -- The worker's own write-back (ai.complete_embedding_jobs) sets only the vector, and only where the text still
  -- hashes to what was embedded: nothing to compare, and skipping the dynamic SQL keeps write-back cheap.
  if current_setting('ai.embedding_worker', true) = 'on' then
    return new;
  end if;
  execute format('select (%s)::text from (select ($1).*) r', TG_ARGV[3]) into old_content using old;
  execute format('select (%s)::text from (select ($1).*) r', TG_ARGV[3]) into new_content using new;
  execute format('select ($1).%I::text', TG_ARGV[1]) into row_key using new;
  if old_content is not distinct from new_content then
    -- Clearing the vector of unchanged text asks for a fresh one.
    execute format('select ($1).%1$I is not null and ($2).%1$I is null', TG_ARGV[2]) into vector_cleared using old, new;
    if vector_cleared and new_content is not null then
      perform ai._queue_embedding(TG_ARGV[0]::int, array[row_key]);
    end if;
    return new;
  end if;
  -- (compared as text: pgvector's = operator is not on this function's empty search_path). A vector set to
  -- null together with the text is no vector given: the row is queued like any other text change.
  execute format('select ($2).%1$I is not null and ($1).%1$I::text is distinct from ($2).%1$I::text', TG_ARGV[2])
    into vector_given using old, new;
  if vector_given then
    return new;  -- text and vector set together: trust the caller's vector
  end if;
  new := jsonb_populate_record(new, jsonb_build_object(TG_ARGV[2], null));
  if new_content is null then
    delete from ai.embedding_jobs j where j.target_id = TG_ARGV[0]::int and j.row_id = row_key;
  else
    perform ai._queue_embedding(TG_ARGV[0]::int, array[row_key]);
  end if;
  return new;
end
$$;

-- AFTER INSERT, per statement, with the inserted rows as `inserted`. Same TG_ARGV.
create function ai._embedding_on_insert() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  row_ids text[];
begin
  execute format('select array_agg(%1$I::text) from inserted where %2$I is null and (%3$s) is not null',
                 TG_ARGV[1], TG_ARGV[2], TG_ARGV[3])
    into row_ids;
  if row_ids is not null then
    perform ai._queue_embedding(TG_ARGV[0]::int, row_ids);
  end if;
  return null;
end
$$;

-- AFTER DELETE, per statement, with the deleted rows as `deleted`.
create function ai._embedding_on_delete() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  execute format(
    'delete from ai.embedding_jobs j using deleted d where j.target_id = $1 and j.row_id = d.%I::text',
    TG_ARGV[1]
  ) using TG_ARGV[0]::int;
  return null;
end
$$;

-- Validation (fails early, saying what to do) -------------------------------------------------------------------
create function ai._validate_embedding_target(source regclass, content text, embedding_column name)
returns table (primary_key name, primary_key_type regtype)
language plpgsql
set search_path = ''
as $$
declare
  column_type text;
  pk_columns name[];
  pk_types regtype[];
begin
  if (select relkind from pg_catalog.pg_class where oid = source) not in ('r', 'p') then
    raise exception '% is not a table', source using hint = 'Pass a table, e.g. ''public.documents''.';
  end if;

  select pg_catalog.format_type(a.atttypid, a.atttypmod) into column_type
  from pg_catalog.pg_attribute a
  where a.attrelid = source and a.attname = embedding_column and not a.attisdropped;
  if column_type is null then
    raise exception 'table % has no column %', source, embedding_column
      using hint = pg_catalog.format('Add it: alter table %s add column %I extensions.vector(384);', source, embedding_column);
  end if;
  if column_type not like '%vector(%' then
    raise exception 'column %.% is %, not a vector', source, embedding_column, column_type
      using hint = 'The embedding column must be extensions.vector(384) (gte-small).';
  end if;

  select array_agg(a.attname order by k.ord), array_agg(a.atttypid::regtype order by k.ord)
  into pk_columns, pk_types
  from pg_catalog.pg_index i
  cross join lateral unnest(i.indkey) with ordinality as k(attnum, ord)
  join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
  where i.indrelid = source and i.indisprimary;
  if pk_columns is null or cardinality(pk_columns) <> 1 then
    raise exception 'table % needs a single-column primary key for automatic embeddings', source
      using hint = 'Add one, e.g. alter table ... add column id bigint generated always as identity primary key;';
  end if;

  begin
    execute pg_catalog.format('select (%s)::text from %s limit 0', content, source);
  exception when others then
    raise exception 'content expression "%" is not valid for table %: %', content, source, sqlerrm
      using hint = 'Use the table''s column names, e.g. ''content'' or ''title || '''' '''' || body''; schema-qualify non-built-in functions.';
  end;

  return query select pk_columns[1], pk_types[1];
end
$$;

-- Registration --------------------------------------------------------------------------------------------------
-- ai.enable_embeddings(source, content, embedding_column = 'embedding', max_attempts = 5) returns the target id.
-- Calling it again with the same arguments changes nothing.
create function ai.enable_embeddings(
  source regclass,
  content text,
  embedding_column name default 'embedding',
  max_attempts int default 5
) returns int
language plpgsql
security definer
set search_path = ''
as $$
declare
  target ai.embedding_targets;
  key record;
  args text;
  prefix text := 'ai_embed_' || left(embedding_column, 40);
begin
  -- Registrations of dropped tables (a regclass column does not depend on its table) go first.
  delete from ai.embedding_targets t where not exists (select from pg_catalog.pg_class c where c.oid = t.source);

  select * into target from ai.embedding_targets t
  where t.source = enable_embeddings.source and t.embedding_column = enable_embeddings.embedding_column;
  if found then
    if target.content = enable_embeddings.content and target.max_attempts = enable_embeddings.max_attempts then
      return target.id;
    end if;
    raise exception 'embeddings are already enabled for %.% with content "%" and max_attempts %',
      source, embedding_column, target.content, target.max_attempts
      using hint = pg_catalog.format('Call ai.disable_embeddings(%L, %L) first.', source::text, embedding_column);
  end if;

  select * into key from ai._validate_embedding_target(source, content, embedding_column);

  insert into ai.embedding_targets (source, content, embedding_column, primary_key, primary_key_type, max_attempts)
  values (source, content, embedding_column, key.primary_key, key.primary_key_type, max_attempts)
  returning * into target;

  args := pg_catalog.format('%L, %L, %L, %L', target.id, key.primary_key, embedding_column, content);
  execute pg_catalog.format(
    'create trigger %I before update on %s for each row execute function ai._embedding_on_update(%s)',
    prefix || '_update', source, args);
  execute pg_catalog.format(
    'create trigger %I after insert on %s referencing new table as inserted for each statement
     execute function ai._embedding_on_insert(%s)', prefix || '_insert', source, args);
  execute pg_catalog.format(
    'create trigger %I after delete on %s referencing old table as deleted for each statement
     execute function ai._embedding_on_delete(%s)', prefix || '_delete', source, args);
  execute pg_catalog.format(
    'create trigger %I after insert or update on %s for each statement execute function ai._embedding_wake()',
    prefix || '_wake', source);

  -- Backfill: every existing row without a vector.
  execute pg_catalog.format(
    'insert into ai.embedding_jobs (target_id, row_id)
     select $1, %I::text from %s where %I is null and (%s) is not null on conflict do nothing',
    key.primary_key, source, embedding_column, content) using target.id;

  return target.id;
end
$$;
comment on function ai.enable_embeddings(regclass, text, name, int) is
  'Embed source''s content expression into embedding_column automatically (insert, update, backfill). Returns the target id.';

create function ai.disable_embeddings(source regclass, embedding_column name default 'embedding')
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  prefix text := 'ai_embed_' || left(embedding_column, 40);
  suffix text;
begin
  if not exists (select from ai.embedding_targets t
                 where t.source = disable_embeddings.source and t.embedding_column = disable_embeddings.embedding_column) then
    raise exception 'embeddings are not enabled for %.%', source, embedding_column
      using hint = 'See select * from ai.embedding_targets;';
  end if;
  foreach suffix in array array['_update', '_insert', '_delete', '_wake'] loop
    execute pg_catalog.format('drop trigger if exists %I on %s', prefix || suffix, source);
  end loop;
  delete from ai.embedding_targets t
  where t.source = disable_embeddings.source and t.embedding_column = disable_embeddings.embedding_column;
end
$$;
comment on function ai.disable_embeddings(regclass, name) is
  'Stop embedding source.embedding_column automatically; drops its triggers and queued jobs (vectors stay).';

-- Worker API (called by the embed-worker edge function as service_role) ------------------------------------------
-- Claims up to batch_size ready jobs (pending and due, or processing past their visibility deadline) and
-- returns each with the row's current text and its hash. A job whose row is gone or whose text is null comes
-- back with content null: complete it with a null embedding to drop it.
create function ai.claim_embedding_jobs(batch_size int default 64, visibility_timeout interval default '5 minutes')
returns table (job_id bigint, claim_token uuid, target_id int, row_id text, content text, content_hash text)
language plpgsql
security definer
set search_path = ''
as $$
declare
  claimed ai.embedding_jobs[];
  target ai.embedding_targets;
begin
  if batch_size < 1 or batch_size > 1000 then
    raise exception 'batch_size must be between 1 and 1000, got %', batch_size;
  end if;

  -- A registered table that was dropped leaves its registration behind (a regclass column does not depend on
  -- its table); forget it and its jobs, whose rows are gone, rather than fail every claim on it.
  delete from ai.embedding_targets t where not exists (select from pg_catalog.pg_class c where c.oid = t.source);

  -- A claim that expired once too often is a dead letter, not another attempt.
  update ai.embedding_jobs j
  set status = 'failed', claim_token = null, updated_at = now(),
      last_error = pg_catalog.format('no result within the visibility timeout after %s attempts%s', j.attempts,
                                     coalesce('; last error: ' || j.last_error, ''))
  from ai.embedding_targets t
  where t.id = j.target_id and j.status = 'processing' and j.run_after <= now() and j.attempts >= t.max_attempts;

  with ready as (
    select j.id from ai.embedding_jobs j
    where j.status <> 'failed' and j.run_after <= now()
    order by j.run_after, j.id
    limit batch_size
    for update skip locked
  ), updated as (
    update ai.embedding_jobs j
    set status = 'processing', attempts = j.attempts + 1, run_after = now() + visibility_timeout,
        claim_token = gen_random_uuid(), updated_at = now()
    from ready where j.id = ready.id
    returning j
  )
  select array_agg(u.j) into claimed from updated u;

  if claimed is null then
    return;
  end if;

  for target in select * from ai.embedding_targets t where t.id in (select c.target_id from unnest(claimed) c) loop
    return query execute pg_catalog.format(
      'select c.id, c.claim_token, c.target_id, c.row_id, s.content, md5(s.content)
       from unnest($1) c
       left join lateral (select (%s)::text as content from %s where %I = c.row_id::%s) s on true
       where c.target_id = $2
       order by c.id',
      target.content, target.source, target.primary_key, target.primary_key_type
    ) using claimed, target.id;
  end loop;
end
$$;
comment on function ai.claim_embedding_jobs(int, interval) is
  'Worker API: claim a batch of embedding jobs (skip locked, visibility timeout) with the current text and its hash.';

-- Writes vectors back. results: [{"job_id", "claim_token", "content_hash", "embedding": [...384 numbers] | null}].
-- A vector is written only where the row's text still hashes to content_hash, and a job is finished only by
-- the claim that holds it (a row changed meanwhile was re-queued by its trigger, which voided the claim).
-- A null embedding finishes a job without writing (its row is gone or has no text).
-- Returns how many vectors were written and how many offered vectors were not (stale: the text had changed,
-- which voids the claim, or the claim no longer holds the job).
create function ai.complete_embedding_jobs(results jsonb, out written int, out stale int)
language plpgsql
security definer
set search_path = ''
as $$
declare
  target ai.embedding_targets;
  job_ids bigint[];
  written_ids bigint[] := '{}';
  ids bigint[];
  offered int;
begin
  -- Our own write-backs neither wake the worker again nor run the update trigger's comparisons (until the end).
  perform set_config('ai.embedding_worker', 'on', true);
  -- Every lookup below goes through job_ids (= any: the primary key index), never a scan of the whole queue.
  select array_agg((r ->> 'job_id')::bigint), count(*) filter (where jsonb_typeof(r -> 'embedding') = 'array')
  into job_ids, offered
  from jsonb_array_elements(results) r;

  for target in
    select t.* from ai.embedding_targets t
    where t.id in (select j.target_id from ai.embedding_jobs j where j.id = any (job_ids))
  loop
    -- The vectors are parsed once, from the results as sent; the row id comes from the job, never the caller.
    execute pg_catalog.format(
      'with input as (
         select r.job_id as _ai_job, j.row_id as _ai_row, r.content_hash as _ai_hash, r.embedding as _ai_vec
         from jsonb_to_recordset($1) as r(job_id bigint, claim_token uuid, content_hash text, embedding text)
         cross join lateral (
           select j.row_id from ai.embedding_jobs j
           where j.id = r.job_id and j.claim_token = r.claim_token and j.target_id = $2
           limit 1
         ) j
         where r.embedding is not null
       ), written as (
         update %1$s set %2$I = input._ai_vec::extensions.vector
         from input
         where %3$I = input._ai_row::%4$s and md5((%5$s)::text) = input._ai_hash
         returning input._ai_job
       )
       select coalesce(array_agg(_ai_job), ''{}'') from written',
      target.source, target.embedding_column, target.primary_key, target.primary_key_type, target.content
    ) into ids using results, target.id;
    written_ids := written_ids || ids;
  end loop;

  written := cardinality(written_ids);
  stale := offered - written;

  with input as (
    select (r ->> 'job_id')::bigint as job_id, (r ->> 'claim_token')::uuid as claim_token,
           jsonb_typeof(r -> 'embedding') = 'array' as has_vector
    from jsonb_array_elements(results) r
  ), finished as (
    delete from ai.embedding_jobs j
    using input
    where j.id = any (job_ids) and j.id = input.job_id and j.claim_token = input.claim_token
      and (not input.has_vector or j.id = any (written_ids))
    returning j.id
  )
  -- Still held by this claim but not written: the text changed without its trigger (e.g. triggers disabled).
  update ai.embedding_jobs j
  set status = 'pending', attempts = 0, run_after = now(), claim_token = null, updated_at = now(),
      last_error = 'the text changed while it was being embedded; queued again'
  from input
  where j.id = any (job_ids) and j.id = input.job_id and j.claim_token = input.claim_token and input.has_vector
    and not j.id = any (written_ids);

  perform set_config('ai.embedding_worker', 'off', true);
end
$$;
comment on function ai.complete_embedding_jobs(jsonb) is
  'Worker API: write vectors back where the text is unchanged (content hash) and finish the jobs.';

-- Records failures. failures: [{"job_id", "claim_token", "error"}]. Retried with backoff until max_attempts,
-- then dead-lettered (status failed) with the error.
create function ai.fail_embedding_jobs(failures jsonb) returns int
language sql
security definer
set search_path = ''
as $$
  with input as (
    select (f ->> 'job_id')::bigint as job_id, (f ->> 'claim_token')::uuid as claim_token,
           left(coalesce(f ->> 'error', 'unknown error'), 2000) as error
    from jsonb_array_elements(failures) f
  ), updated as (
    update ai.embedding_jobs j
    set status = case when j.attempts >= t.max_attempts then 'failed' else 'pending' end,
        run_after = now() + least(interval '1 hour', interval '10 seconds' * power(2, greatest(j.attempts - 1, 0))),
        claim_token = null, last_error = input.error, updated_at = now()
    from input, ai.embedding_targets t
    where j.id = input.job_id and j.claim_token = input.claim_token and t.id = j.target_id
    returning j.id
  )
  select count(*)::int from updated;
$$;
comment on function ai.fail_embedding_jobs(jsonb) is
  'Worker API: record failed jobs; retried with exponential backoff, dead-lettered after max_attempts.';

-- Operations ------------------------------------------------------------------------------------------------------
create function ai.retry_failed_embeddings(source regclass default null) returns int
language sql
security definer
set search_path = ''
as $$
  with retried as (
    update ai.embedding_jobs j
    set status = 'pending', attempts = 0, run_after = now(), claim_token = null, updated_at = now()
    from ai.embedding_targets t
    where t.id = j.target_id and j.status = 'failed' and (retry_failed_embeddings.source is null or t.source = retry_failed_embeddings.source)
    returning j.id
  )
  select count(*)::int from retried;
$$;
comment on function ai.retry_failed_embeddings(regclass) is
  'Put dead-lettered embedding jobs (of one table, or all) back in the queue with fresh attempts.';

create view ai.embedding_status with (security_invoker = true) as
select
  t.source::text as source,
  t.embedding_column,
  count(j.id) filter (where j.status = 'pending') as pending,
  count(j.id) filter (where j.status = 'processing' and j.run_after > now()) as in_flight,
  count(j.id) filter (where j.status = 'processing' and j.run_after <= now()) as expired_claims,
  count(j.id) filter (where j.status = 'failed') as failed,
  now() - min(j.created_at) filter (where j.status = 'pending') as oldest_pending_age,
  (array_agg(j.last_error order by j.updated_at desc) filter (where j.status = 'failed'))[1] as last_failure
from ai.embedding_targets t
left join ai.embedding_jobs j on j.target_id = t.id
group by t.id, t.source, t.embedding_column;
comment on view ai.embedding_status is
  'Per registered table and column: jobs pending, in flight, with expired claims, failed, and the oldest pending age.';

grant select on ai.embedding_status to service_role;
revoke all on function ai._queue_embedding(int, text[]), ai._validate_embedding_target(regclass, text, name),
  ai.enable_embeddings(regclass, text, name, int), ai.disable_embeddings(regclass, name),
  ai.claim_embedding_jobs(int, interval), ai.complete_embedding_jobs(jsonb), ai.fail_embedding_jobs(jsonb),
  ai.retry_failed_embeddings(regclass) from public, anon, authenticated;
-- The trigger functions are called only as triggers (no EXECUTE is checked then); nobody calls them directly.
revoke all on function ai._embedding_on_update(), ai._embedding_on_insert(), ai._embedding_on_delete()
  from public, anon, authenticated, service_role;
grant execute on function ai.claim_embedding_jobs(int, interval), ai.complete_embedding_jobs(jsonb),
  ai.fail_embedding_jobs(jsonb), ai.retry_failed_embeddings(regclass) to service_role;
