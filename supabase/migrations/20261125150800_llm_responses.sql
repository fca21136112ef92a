-- llm_responses: every model call the functions make (custom-llm, fix-code-error, the workers), successful or
-- not, with provider, model, tokens and latency. llm_usage_daily sums them per owner, provider, model and day.
--
--   select * from llm_usage_daily where day > now() - interval '7 days';   -- as a user: your own usage
--   select * from ai.token_budget(owner := '<uuid>', max_tokens := 200000);  -- budget check (service_role)

create table public.llm_responses (
  id uuid primary key default gen_random_uuid(),
  owner uuid references auth.users (id) on delete cascade,
  function_name text not null,
  provider text not null,
  model text not null,
  prompt jsonb not null,
  response text,
  prompt_tokens int not null default 0 check (prompt_tokens >= 0),
  completion_tokens int not null default 0 check (completion_tokens >= 0),
  total_tokens int generated always as (prompt_tokens + completion_tokens) stored,
  latency_ms int not null check (latency_ms >= 0),
  stream boolean not null default false,
  status text not null check (status in ('success', 'error')),
  error text,
  http_status int,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  check ((status = 'error') = (error is not null))
);
comment on table public.llm_responses is
  'One row per LLM call (success or failure): prompt (messages), response, provider, model, tokens, latency, owner.';
comment on column public.llm_responses.prompt is 'The chat messages sent, as [{"role", "content"}].';

create index llm_responses_owner_created_idx on public.llm_responses (owner, created_at desc);

alter table public.llm_responses enable row level security;
-- Written by the functions (service role); users read their own.
create policy "Users can read their own LLM calls" on public.llm_responses
  for select to authenticated using (owner = (select auth.uid()));

create view public.llm_usage_daily with (security_invoker = true) as
select
  owner,
  date_trunc('day', created_at) as day,
  provider,
  model,
  count(*) as requests,
  count(*) filter (where status = 'error') as errors,
  sum(prompt_tokens) as prompt_tokens,
  sum(completion_tokens) as completion_tokens,
  sum(total_tokens) as total_tokens,
  round(avg(latency_ms)) as avg_latency_ms,
  percentile_cont(0.95) within group (order by latency_ms) as p95_latency_ms
from public.llm_responses
group by owner, date_trunc('day', created_at), provider, model;
comment on view public.llm_usage_daily is
  'Requests, errors, tokens and latency per owner, provider, model and day (RLS of llm_responses applies).';

-- Tokens an owner used in the last `period`, against a budget: enforce per-user budgets in Postgres.
create function ai.token_budget(owner uuid, max_tokens bigint, period interval default '1 day')
returns table (allowed boolean, used bigint, remaining bigint)
language sql stable
security definer
set search_path = ''
as $$
  select u.used < max_tokens, u.used, greatest(max_tokens - u.used, 0)
  from (
    select coalesce(sum(r.total_tokens), 0)::bigint as used
    from public.llm_responses r
    where r.owner is not distinct from token_budget.owner and r.created_at > now() - period
  ) u;
$$;
comment on function ai.token_budget(uuid, bigint, interval) is
  'Whether owner has used fewer than max_tokens in the last period (default a day), and how many remain.';

revoke all on function ai.token_budget(uuid, bigint, interval) from public, anon, authenticated;
grant execute on function ai.token_budget(uuid, bigint, interval) to service_role;
