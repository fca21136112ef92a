-- Retrieval for fix-code-error in one statement: ai.find_similar_fixes_as(claims, …) takes on the caller's role
-- and claims (as PostgREST sets them) for its own duration and runs find_similar_errors under them — same error
-- code first, then any code when those do not fill the list — so row-level security decides what it sees, as
-- before, without a transaction around it.
--
--   select * from ai.find_similar_fixes_as('{"sub": "<uuid>", "role": "authenticated"}', $vector, 5, 0, 'TS2322', true);
--
-- Why: the same search as BEGIN, the claims, the query and COMMIT needed a connection of the function's pool (2 per
-- isolate) to itself for the whole round trip; under 20 concurrent requests those holds were what requests
-- queued on. One statement goes out pipelined with the others'. The role and claims are set for the search and
-- put back as they were before the function returns, so nothing of them outlives the call (an error aborts the
-- statement, which undoes them too). (A user's statement timeout cannot apply to a statement already running;
-- this one is an index search with a limit.)

create function ai.find_similar_fixes_as(
  claims jsonb,
  query_embedding extensions.vector(384),
  match_count int,
  min_similarity double precision default 0,
  filter_error_code text default null,
  any_code boolean default true
) returns table (
  id uuid,
  error_code text,
  error_message text,
  code_snippet text,
  suggested_fix text,
  similarity double precision,
  status text,
  verified boolean,
  provider text,
  pass int,
  rank bigint
)
language plpgsql volatile
set search_path = ''
as $$
declare
  caller_role text := claims ->> 'role';
  saved_role text := current_setting('role');
  saved_claims text := coalesce(current_setting('request.jwt.claims', true), '');
begin
  if caller_role is null or caller_role not in ('authenticated', 'service_role') then
    raise exception 'find_similar_fixes_as: the claims must name the role authenticated or service_role (got %)',
      coalesce(caller_role, 'none') using errcode = '22023';
  end if;
  perform set_config('request.jwt.claims', claims::text, true);
  perform set_config('role', caller_role, true);
  return query
    with same_code as (
      select s.id, s.error_code, s.error_message, s.code_snippet, s.suggested_fix, s.similarity, s.status,
             s.verified, s.provider, 0 as pass, s.ordinality
      from public.find_similar_errors(query_embedding, match_count, min_similarity, filter_error_code)
           with ordinality s
      where filter_error_code is not null
    )
    select * from same_code
    union all
    select s.id, s.error_code, s.error_message, s.code_snippet, s.suggested_fix, s.similarity, s.status,
           s.verified, s.provider, 1, s.ordinality
    from public.find_similar_errors(query_embedding, match_count, min_similarity) with ordinality s
    where (any_code or filter_error_code is null) and (select count(*) from same_code) < match_count
    order by 10, 11;
  -- Back to the caller's own role and claims (an error aborts the statement, which undoes them as well).
  perform set_config('role', saved_role, true);
  perform set_config('request.jwt.claims', saved_claims, true);
end
$$;
comment on function ai.find_similar_fixes_as(jsonb, extensions.vector, int, double precision, text, boolean) is
  'find_similar_errors as the caller the claims name (authenticated or service_role), same error code first: one statement, row-level security as the caller.';

revoke all on function ai.find_similar_fixes_as(jsonb, extensions.vector, int, double precision, text, boolean)
  from public, anon, authenticated;
grant execute on function ai.find_similar_fixes_as(jsonb, extensions.vector, int, double precision, text, boolean)
  to service_role;
