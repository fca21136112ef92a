-- ai.token_budget_resets_at: when a spent rolling token budget frees up again (the 429's Retry-After).
begin;
select plan(8);

insert into auth.users (id, email) values ('d8888888-8888-4888-8888-888888888888', 'budget-reset@example.test');

-- 23 h ago 100 tokens, 1 h ago 60 tokens, now 40 tokens: 200 in the last day. Older calls are out of the window.
insert into public.llm_responses
  (owner, function_name, provider, model, prompt, response, prompt_tokens, completion_tokens, latency_ms, status, created_at)
values
  ('d8888888-8888-4888-8888-888888888888', 'custom-llm', 'p', 'm', '[]', 'a', 100, 0, 1, 'success', now() - interval '23 hours'),
  ('d8888888-8888-4888-8888-888888888888', 'custom-llm', 'p', 'm', '[]', 'b', 60, 0, 1, 'success', now() - interval '1 hour'),
  ('d8888888-8888-4888-8888-888888888888', 'custom-llm', 'p', 'm', '[]', 'c', 40, 0, 1, 'success', now()),
  ('d8888888-8888-4888-8888-888888888888', 'custom-llm', 'p', 'm', '[]', 'old', 5000, 0, 1, 'success', now() - interval '30 hours');

select is(ai.token_budget_resets_at('d8888888-8888-4888-8888-888888888888', 201), null,
  'Under the budget: nothing to wait for.');
select is(ai.token_budget_resets_at('d8888888-8888-4888-8888-888888888888', 200), now() + interval '1 hour',
  'At 200 of 200: once the 100 tokens of 23 h ago age out (in 1 h), 100 are left, under the budget.');
select is(ai.token_budget_resets_at('d8888888-8888-4888-8888-888888888888', 100), now() + interval '23 hours',
  'At 200 of 100: the call of 1 h ago must age out too (in 23 h), leaving 40.');
select is(ai.token_budget_resets_at('d8888888-8888-4888-8888-888888888888', 40), now() + interval '1 day',
  'At 200 of 40: every call in the window must age out, the last one now.');
select is(ai.token_budget_resets_at('d8888888-8888-4888-8888-888888888888', 1000, '2 days'), now() + interval '18 hours',
  'The period is the window: over 2 days the 5000 tokens of 30 h ago count, and age out in 18 h.');

set local role service_role;
select lives_ok($$select ai.token_budget_resets_at('d8888888-8888-4888-8888-888888888888', 100)$$,
  'service_role may ask.');
reset role;
set local role authenticated;
select throws_ok($$select ai.token_budget_resets_at('d8888888-8888-4888-8888-888888888888', 100)$$, '42501', null,
  'A signed-in user cannot read anyone''s budget through it.');
reset role;
set local role anon;
select throws_ok($$select ai.token_budget_resets_at('d8888888-8888-4888-8888-888888888888', 100)$$, '42501', null,
  'anon cannot either.');
reset role;

select * from finish();
rollback;
