-- When a spent token budget frees up again, for the 429's Retry-After (supabase/functions/_shared/limits.ts).
--
-- The budget is a rolling window (ai.token_budget): calls age out of it one by one. This returns the moment
-- enough of them have aged out that the owner is under max_tokens again, or null when they are under it now.
--
--   select ai.token_budget_resets_at(owner := '<uuid>', max_tokens := 200000);   -- service_role
create function ai.token_budget_resets_at(owner uuid, max_tokens bigint, period interval default '1 day')
returns timestamptz
language sql stable
security definer
set search_path = ''
as $$
  with calls as (
    select r.created_at,
           sum(r.total_tokens) over () as used,
           -- what is still in the window once this call (and every older one) has aged out
           sum(r.total_tokens) over () - sum(r.total_tokens) over (order by r.created_at, r.id) as left_after
    from public.llm_responses r
    where r.owner is not distinct from token_budget_resets_at.owner and r.created_at > now() - period
  )
  select min(c.created_at) + period from calls c where c.used >= max_tokens and c.left_after < max_tokens;
$$;
comment on function ai.token_budget_resets_at(uuid, bigint, interval) is
  'When owner''s usage in the rolling period falls under max_tokens again (null: it is under it now).';

revoke all on function ai.token_budget_resets_at(uuid, bigint, interval) from public, anon, authenticated;
grant execute on function ai.token_budget_resets_at(uuid, bigint, interval) to service_role;
