-- Rate limits enforced in Postgres, shared by every function instance: fixed windows counted atomically, so
-- concurrent callers can never exceed the limit.
--
--   select * from ai.check_rate_limit('custom-llm:user:<uuid>', max_requests := 30, window_seconds := 60);
--   --> allowed | remaining | reset_at

create unlogged table ai.rate_limit_counters (
  key text not null,
  window_start timestamptz not null,
  count int not null,
  primary key (key, window_start)
);
comment on table ai.rate_limit_counters is 'Request counts per key and fixed window (unlogged: lost on a crash, by design).';
alter table ai.rate_limit_counters enable row level security;

create function ai.check_rate_limit(key text, max_requests int, window_seconds int default 60)
returns table (allowed boolean, remaining int, reset_at timestamptz)
language plpgsql
security definer
set search_path = ''
as $$
declare
  window_start timestamptz;
  counted int;
begin
  if check_rate_limit.key is null or check_rate_limit.key = '' then
    raise exception 'check_rate_limit needs a key'
      using hint = 'Name what is limited, e.g. ''custom-llm:user:<uuid>''.';
  end if;
  -- (null limits are refused too: a null max_requests would let the first request through, then deny the rest)
  if max_requests is null or window_seconds is null or max_requests < 1 or window_seconds < 1 then
    raise exception 'max_requests and window_seconds must be positive (got %, %)', max_requests, window_seconds;
  end if;
  window_start := to_timestamp(floor(extract(epoch from now()) / window_seconds) * window_seconds);

  -- The row lock of the upsert serialises concurrent callers on one key; the WHERE stops at the limit.
  insert into ai.rate_limit_counters as c (key, window_start, count)
  values (check_rate_limit.key, window_start, 1)
  on conflict on constraint rate_limit_counters_pkey do update set count = c.count + 1
    where c.count < check_rate_limit.max_requests
  returning c.count into counted;

  return query select counted is not null, greatest(max_requests - coalesce(counted, max_requests), 0),
                      window_start + make_interval(secs => window_seconds);
end
$$;
comment on function ai.check_rate_limit(text, int, int) is
  'Count one request for key in the current window; allowed is false once max_requests were counted.';

revoke all on function ai.check_rate_limit(text, int, int) from public, anon, authenticated;
grant execute on function ai.check_rate_limit(text, int, int) to service_role;
