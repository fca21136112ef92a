-- LLM call records (llm_responses: RLS, the status/error rule), usage per day (llm_usage_daily), token
-- budgets (ai.token_budget) and rate limits (ai.check_rate_limit).
--
-- now() is the transaction's start time throughout, so every check_rate_limit call here falls in the same
-- window; "the next window" is simulated by moving the counted window back by its length.
begin;
select plan(42);

insert into auth.users (id, email) values
  ('a5555555-5555-4555-8555-555555555555', 'usage-a@example.test'),
  ('b6666666-6666-4666-8666-666666666666', 'usage-b@example.test');

-- User A: three calls to m1 today (one failed), one to m2 today, one to m1 25 hours ago. User B: one call.
-- One call without a user (a worker's).
insert into public.llm_responses
  (owner, function_name, provider, model, prompt, response, prompt_tokens, completion_tokens, latency_ms, status, error, created_at)
values
  ('a5555555-5555-4555-8555-555555555555', 'custom-llm', 'openai', 'm1', '[]', 'r1', 100, 20, 400, 'success', null, now()),
  ('a5555555-5555-4555-8555-555555555555', 'custom-llm', 'openai', 'm1', '[]', 'r2', 50, 10, 600, 'success', null, now()),
  ('a5555555-5555-4555-8555-555555555555', 'custom-llm', 'openai', 'm1', '[]', null, 30, 0, 200, 'error', 'upstream 429', now()),
  ('a5555555-5555-4555-8555-555555555555', 'custom-llm', 'ollama', 'm2', '[]', 'r4', 7, 3, 100, 'success', null, now()),
  ('a5555555-5555-4555-8555-555555555555', 'custom-llm', 'openai', 'm1', '[]', 'r5', 1000, 1000, 100, 'success', null,
   now() - interval '25 hours'),
  ('b6666666-6666-4666-8666-666666666666', 'custom-llm', 'openai', 'm1', '[]', 'r6', 11, 11, 100, 'success', null, now()),
  (null, 'ts-error-worker', 'openai', 'm1', '[]', 'r7', 5, 5, 100, 'success', null, now());

-- llm_responses -------------------------------------------------------------------------------------------------
select is((select total_tokens from public.llm_responses where response = 'r1'), 120,
  'total_tokens is prompt plus completion tokens.');
select throws_ok($$insert into public.llm_responses (function_name, provider, model, prompt, latency_ms, status)
                   values ('f', 'p', 'm', '[]', 1, 'error')$$, '23514', null, 'An error row must say what the error was.');
select throws_ok($$insert into public.llm_responses (function_name, provider, model, prompt, latency_ms, status, error)
                   values ('f', 'p', 'm', '[]', 1, 'success', 'but it failed')$$, '23514', null,
  'A successful row cannot carry an error.');
select throws_ok($$insert into public.llm_responses (function_name, provider, model, prompt, latency_ms, status)
                   values ('f', 'p', 'm', '[]', 1, 'pending')$$, '23514', null, 'status is success or error.');
select throws_ok($$insert into public.llm_responses (function_name, provider, model, prompt, latency_ms, status, prompt_tokens)
                   values ('f', 'p', 'm', '[]', 1, 'success', -1)$$, '23514', null, 'Token counts cannot be negative.');

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "a5555555-5555-4555-8555-555555555555", "role": "authenticated"}', true);
select set_eq($$select response from public.llm_responses$$, array['r1', 'r2', null, 'r4', 'r5'],
  'A user reads their own LLM calls only.');
select throws_ok($$insert into public.llm_responses (owner, function_name, provider, model, prompt, latency_ms, status)
                   values ('a5555555-5555-4555-8555-555555555555', 'f', 'p', 'm', '[]', 1, 'success')$$,
  '42501', 'permission denied for table llm_responses',
  'A user cannot write call records (the functions do, as service_role).');
select throws_ok($$update public.llm_responses set prompt_tokens = 0 returning id$$, '42501',
  'permission denied for table llm_responses', 'A user cannot change call records.');
select is_empty($$delete from public.llm_responses where owner is distinct from auth.uid() returning id$$,
  'A user cannot delete other users'' call records (their own, they may: 34_retention).');
reset role;

set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select is_empty($$select from public.llm_responses$$, 'anon reads no call records.');
select is_empty($$select from public.llm_usage_daily$$, 'anon reads no usage.');
reset role;

set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select is((select count(*)::int from public.llm_responses where function_name in ('custom-llm', 'ts-error-worker')), 7,
  'service_role reads every call record.');
select lives_ok($$insert into public.llm_responses (function_name, provider, model, prompt, latency_ms, status)
                  values ('custom-llm', 'openai', 'm1', '[]', 1, 'success')$$, 'service_role writes call records.');
reset role;
delete from public.llm_responses where latency_ms = 1;

-- llm_usage_daily -------------------------------------------------------------------------------------------------
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "a5555555-5555-4555-8555-555555555555", "role": "authenticated"}', true);
select results_eq(
  $$select day, provider, model, requests, errors, prompt_tokens, completion_tokens, total_tokens
    from public.llm_usage_daily order by day, model$$,
  $$values (date_trunc('day', now() - interval '25 hours'), 'openai', 'm1', 1::bigint, 0::bigint, 1000::bigint, 1000::bigint, 2000::bigint),
           (date_trunc('day', now()), 'openai', 'm1', 3, 1, 180, 30, 210),
           (date_trunc('day', now()), 'ollama', 'm2', 1, 0, 7, 3, 10)$$,
  'llm_usage_daily sums a user''s requests, errors and tokens per model and day.');
select is((select avg_latency_ms from public.llm_usage_daily where model = 'm1' and day = date_trunc('day', now())), 400::numeric,
  'It averages the latency.');
select is((select count(distinct owner)::int from public.llm_usage_daily), 1, 'A user sees only their own usage.');
reset role;

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "b6666666-6666-4666-8666-666666666666", "role": "authenticated"}', true);
select results_eq($$select model, requests, total_tokens from public.llm_usage_daily$$,
  $$values ('m1', 1::bigint, 22::bigint)$$, 'Another user sees their own usage.');
reset role;

set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select results_eq($$select owner, sum(requests)::int from public.llm_usage_daily where day = date_trunc('day', now())
                    group by owner order by owner nulls last$$,
  $$values ('a5555555-5555-4555-8555-555555555555'::uuid, 4), ('b6666666-6666-4666-8666-666666666666', 1), (null, 1)$$,
  'service_role sees every owner''s usage, calls without a user included.');

-- ai.token_budget -------------------------------------------------------------------------------------------------
select results_eq($$select * from ai.token_budget('a5555555-5555-4555-8555-555555555555', 1000)$$,
  $$values (true, 220::bigint, 780::bigint)$$, 'token_budget counts the tokens of the last day against the budget.');
select results_eq($$select * from ai.token_budget('a5555555-5555-4555-8555-555555555555', 221)$$,
  $$values (true, 220::bigint, 1::bigint)$$, 'One token below the budget is still allowed.');
select results_eq($$select * from ai.token_budget('a5555555-5555-4555-8555-555555555555', 220)$$,
  $$values (false, 220::bigint, 0::bigint)$$, 'A budget used up exactly is not allowed.');
select results_eq($$select * from ai.token_budget('a5555555-5555-4555-8555-555555555555', 1000, '2 days')$$,
  $$values (false, 2220::bigint, 0::bigint)$$, 'A longer period counts older calls.');
select results_eq($$select * from ai.token_budget('b6666666-6666-4666-8666-666666666666', 1000)$$,
  $$values (true, 22::bigint, 978::bigint)$$, 'Budgets are per owner.');
select results_eq($$select used from ai.token_budget(null, 1000)$$, $$values (10::bigint)$$,
  'Calls without a user have a budget of their own.');
select results_eq($$select * from ai.token_budget('c7777777-7777-4777-8777-777777777777', 5)$$,
  $$values (true, 0::bigint, 5::bigint)$$, 'An owner without calls has the whole budget.');
reset role;

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "a5555555-5555-4555-8555-555555555555", "role": "authenticated"}', true);
select throws_ok($$select * from ai.token_budget('a5555555-5555-4555-8555-555555555555', 1000)$$, '42501', null,
  'A user cannot call token_budget.');
reset role;

-- ai.check_rate_limit -----------------------------------------------------------------------------------------------
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select results_eq($$select allowed, remaining from ai.check_rate_limit('pgtap:k1', 3, 60)$$, $$values (true, 2)$$,
  'The first request is allowed; 2 remain.');
select results_eq($$select allowed, remaining from ai.check_rate_limit('pgtap:k1', 3, 60)$$, $$values (true, 1)$$,
  'The second request is allowed; 1 remains.');
select results_eq($$select allowed, remaining from ai.check_rate_limit('pgtap:k1', 3, 60)$$, $$values (true, 0)$$,
  'The third request (exactly the limit) is allowed; none remain.');
select results_eq($$select allowed, remaining from ai.check_rate_limit('pgtap:k1', 3, 60)$$, $$values (false, 0)$$,
  'The fourth request is denied.');
select results_eq($$select allowed, remaining from ai.check_rate_limit('pgtap:k1', 3, 60)$$, $$values (false, 0)$$,
  'and so is the fifth: denied requests are not counted past the limit.');
select is((select reset_at from ai.check_rate_limit('pgtap:k1', 3, 60)),
  to_timestamp(floor(extract(epoch from now()) / 60) * 60) + interval '60 seconds',
  'reset_at is the end of the current fixed window.');
select results_eq($$select allowed, remaining from ai.check_rate_limit('pgtap:k2', 3, 60)$$, $$values (true, 2)$$,
  'Another key has its own count.');

reset role;
select is((select count from ai.rate_limit_counters where key = 'pgtap:k1'), 3, 'The window counted exactly 3 requests.');

-- The window ends: move the counted window back by its length, as if 60 seconds had passed.
update ai.rate_limit_counters set window_start = window_start - interval '60 seconds' where key = 'pgtap:k1';
set local role service_role;
select results_eq($$select allowed, remaining from ai.check_rate_limit('pgtap:k1', 3, 60)$$, $$values (true, 2)$$,
  'A new window starts from a fresh count.');

select throws_ok($$select * from ai.check_rate_limit('pgtap:k3', 0, 60)$$, 'P0001',
  'max_requests and window_seconds must be positive (got 0, 60)', 'max_requests must be positive.');
select throws_ok($$select * from ai.check_rate_limit('pgtap:k3', 5, 0)$$, 'P0001',
  'max_requests and window_seconds must be positive (got 5, 0)', 'window_seconds must be positive.');
select throws_ok($$select * from ai.check_rate_limit('pgtap:k3', null, 60)$$, 'P0001',
  'max_requests and window_seconds must be positive (got <NULL>, 60)', 'A null limit is refused.');
select throws_ok($$select * from ai.check_rate_limit(null, 5, 60)$$, 'P0001', 'check_rate_limit needs a key',
  'A null key is refused.');
reset role;

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "a5555555-5555-4555-8555-555555555555", "role": "authenticated"}', true);
select throws_ok($$select * from ai.check_rate_limit('pgtap:k1', 1000, 60)$$, '42501', null,
  'A user cannot call check_rate_limit (and so cannot reset or spend anyone''s count).');
select throws_ok($$select * from ai.rate_limit_counters$$, '42501', null, 'A user cannot read the counters.');
reset role;

set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok($$select * from ai.check_rate_limit('pgtap:k1', 1000, 60)$$, '42501', null, 'anon cannot call check_rate_limit.');
reset role;

select * from finish();
rollback;
