-- Token budgets that hold under concurrency: a call reserves the most it can use before it is made (its
-- prompt's estimate plus the capped max_tokens) and settles after, when its llm_responses row records what it
-- really used. Budgets are per user (LLM_DAILY_TOKEN_BUDGET) and for the whole project
-- (LLM_PROJECT_DAILY_TOKEN_BUDGET), over the last 24 hours, counted by the hour.
--
--   select * from ai.reserve_tokens(owner => '<uuid>', tokens => 5000, user_budget => 200000, project_budget => 5000000);
--   -- allowed: reservation_id to settle; refused: scope ('user' or 'project'), used, budget, retry_at
--   select ai.settle_tokens('<reservation id>');                      -- after the call is recorded
--   select * from ai.token_budget(owner => '<uuid>', max_tokens => 200000);   -- used / remaining, as before
--   select * from ai.token_usage order by hour desc;                   -- tokens per scope and hour
--
-- How
--   * ai.token_usage counts tokens per scope ('user:<uuid>', 'service' for calls without a user, 'project' for
--     all) and hour, added by a trigger as llm_responses rows are inserted; deleting a log row (users may
--     delete their own) gives nothing back
--   * a reservation counts against both budgets until it is settled or expires (a function that died
--     mid-call: its reservation lapses after `hold`, 15 minutes by default)
--   * one reservation at a time per owner and for the project (advisory locks), so concurrent calls, MCP
--     batches and the batch worker can never pass a budget together

create table ai.token_usage (
  scope text not null,
  hour timestamptz not null,
  tokens bigint not null default 0,
  primary key (scope, hour)
);
comment on table ai.token_usage is
  'Tokens used per scope (user:<uuid>, service, project) and hour, counted from llm_responses as rows are inserted.';
alter table ai.token_usage enable row level security;
grant select on ai.token_usage to service_role;

create table ai.token_reservations (
  id uuid primary key default gen_random_uuid(),
  owner uuid,
  tokens bigint not null check (tokens >= 0),
  created_at timestamptz not null default now(),
  expires_at timestamptz not null
);
comment on table ai.token_reservations is 'Tokens reserved by LLM calls in flight (ai.reserve_tokens), until settled or expired.';
create index token_reservations_owner_idx on ai.token_reservations (owner);
alter table ai.token_reservations enable row level security;
grant select on ai.token_reservations to service_role;

-- AFTER INSERT on llm_responses, per statement: adds the rows' tokens to their owner's and the project's hours.
create function ai._count_llm_tokens() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into ai.token_usage as u (scope, hour, tokens)
  select s.scope, date_trunc('hour', a.created_at), sum(a.prompt_tokens + a.completion_tokens)
  from added a
  cross join lateral (values (case when a.owner is null then 'service' else 'user:' || a.owner end), ('project')) s(scope)
  group by 1, 2
  having sum(a.prompt_tokens + a.completion_tokens) > 0
  order by 1, 2
  on conflict (scope, hour) do update set tokens = u.tokens + excluded.tokens;
  return null;
end
$$;
create trigger count_tokens after insert on public.llm_responses
  referencing new table as added for each statement execute function ai._count_llm_tokens();

-- The last day's calls, counted once.
insert into ai.token_usage (scope, hour, tokens)
select s.scope, date_trunc('hour', r.created_at), sum(r.total_tokens)
from public.llm_responses r
cross join lateral (values (case when r.owner is null then 'service' else 'user:' || r.owner end), ('project')) s(scope)
where r.created_at > now() - interval '25 hours'
group by 1, 2
having sum(r.total_tokens) > 0;

-- Tokens a scope used in the hours of `period` (the current hour and the whole first hour included), plus
-- what is reserved and not expired.
create function ai._tokens_used(scope text, period interval) returns bigint
language sql stable
set search_path = ''
as $$
  select coalesce((select sum(u.tokens) from ai.token_usage u
                   where u.scope = _tokens_used.scope and u.hour >= date_trunc('hour', now() - period)), 0)::bigint
       + coalesce((select sum(r.tokens) from ai.token_reservations r
                   where r.expires_at > now()
                     and (_tokens_used.scope = 'project'
                          or (_tokens_used.scope = 'service' and r.owner is null)
                          or _tokens_used.scope = 'user:' || r.owner)), 0)::bigint;
$$;

-- Reserves `tokens` for a call of `owner` (null: a call without a user, bound only by the project's budget).
-- A null budget is no limit. Refused: no reservation, allowed false, with the scope that refused, what it has
-- used (reservations included), its budget, and when enough of it will have aged out.
create function ai.reserve_tokens(
  owner uuid,
  tokens bigint,
  user_budget bigint default null,
  project_budget bigint default null,
  hold interval default '15 minutes'
) returns table (reservation_id uuid, allowed boolean, scope text, used bigint, budget bigint, retry_at timestamptz)
language plpgsql
security definer
set search_path = ''
as $$
declare
  own_scope text := case when reserve_tokens.owner is null then 'service' else 'user:' || reserve_tokens.owner end;
  check_scope text;
  check_budget bigint;
  scope_used bigint;
  id uuid;
begin
  if tokens is null or tokens < 0 then
    raise exception 'tokens must be zero or more, got %', tokens;
  end if;
  -- One reservation at a time per owner, then for the project (always in this order: no deadlocks).
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('ai.tokens:' || own_scope, 0));
  if project_budget is not null then
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('ai.tokens:project', 0));
  end if;
  delete from ai.token_reservations r where r.expires_at <= now();

  foreach check_scope in array array[own_scope, 'project'] loop
    check_budget := case when check_scope = 'project' then project_budget
                         when reserve_tokens.owner is not null then user_budget end;
    continue when check_budget is null;
    scope_used := ai._tokens_used(check_scope, interval '24 hours');
    if scope_used + tokens > check_budget then
      return query select null::uuid, false, case when check_scope = 'project' then 'project' else 'user' end,
        scope_used, check_budget,
        -- when the oldest counted hour leaves the window (or, if only reservations are in the way, soon)
        coalesce((select min(u.hour) + interval '25 hours' from ai.token_usage u
                  where u.scope = check_scope and u.hour >= date_trunc('hour', now() - interval '24 hours')),
                 now() + interval '1 minute');
      return;
    end if;
  end loop;

  insert into ai.token_reservations (owner, tokens, expires_at)
  values (reserve_tokens.owner, tokens, now() + hold)
  returning token_reservations.id into id;
  return query select id, true, null::text, null::bigint, null::bigint, null::timestamptz;
end
$$;
comment on function ai.reserve_tokens(uuid, bigint, bigint, bigint, interval) is
  'Reserve tokens for an LLM call against the owner''s and the project''s 24-hour budgets; settle it with ai.settle_tokens.';

-- The call is recorded (its llm_responses row counted what it used): the reservation goes.
create function ai.settle_tokens(reservation_id uuid) returns void
language sql
security definer
set search_path = ''
as $$
  delete from ai.token_reservations r where r.id = settle_tokens.reservation_id;
$$;
comment on function ai.settle_tokens(uuid) is 'Release a reservation once its call is recorded in llm_responses.';

-- As before (20261125150800), now from the hourly counts and reservations: a user deleting their LLM logs
-- does not get their tokens back.
create or replace function ai.token_budget(owner uuid, max_tokens bigint, period interval default '1 day')
returns table (allowed boolean, used bigint, remaining bigint)
language sql stable
security definer
set search_path = ''
as $$
  select u.used < max_tokens, u.used, greatest(max_tokens - u.used, 0)
  from (select ai._tokens_used(case when token_budget.owner is null then 'service' else 'user:' || token_budget.owner end,
                               period) as used) u;
$$;

revoke all on function ai._tokens_used(text, interval), ai.reserve_tokens(uuid, bigint, bigint, bigint, interval),
  ai.settle_tokens(uuid) from public, anon, authenticated;
grant execute on function ai.reserve_tokens(uuid, bigint, bigint, bigint, interval), ai.settle_tokens(uuid)
  to service_role;
-- A trigger function: called only as a trigger (no EXECUTE is checked then), never directly.
revoke all on function ai._count_llm_tokens() from public, anon, authenticated, service_role;
