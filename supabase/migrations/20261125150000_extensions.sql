-- Extensions and the `ai` schema.
--
--   vector   pgvector (>= 0.8: HNSW, iterative index scans) in schema extensions, as Supabase installs it
--   pg_cron  schedules the workers (1.4 here: minute schedules)
--   pg_net   asynchronous HTTP from SQL, used only to wake edge functions. Created when Postgres offers it
--            (hosted Supabase, `supabase start`); the Docker-free local stack provides the same SQL interface
--            itself (stack/sql/pg_net_standin.sql), so this migration works unchanged on both.
--   ai       this toolkit's SQL API (enable_embeddings, queue and worker functions, rate limits); its
--            tables are internal and reached through functions granted to the roles that need them.

create extension if not exists vector with schema extensions;
create extension if not exists pg_cron;

do $$
begin
  if exists (select from pg_available_extensions where name = 'pg_net') then
    create extension if not exists pg_net;
  elsif to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
    raise exception 'pg_net is not available'
      using hint = 'Install pg_net (hosted Supabase has it) or start the local stack, which provides its SQL interface.';
  end if;
end
$$;

create schema if not exists ai;
comment on schema ai is 'supabase-ai: automatic embeddings, worker queues, rate limits. Internal tables; public API through functions.';
revoke all on schema ai from public;
grant usage on schema ai to postgres, service_role;
