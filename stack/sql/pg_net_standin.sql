-- LOCAL STAND-IN for the pg_net extension, used only when the real pg_net is not available
-- (stack/database.ts creates the real extension instead whenever Postgres offers it, and switches a database
-- from one to the other, keeping its queued requests and responses).
--
-- Same SQL interface as pg_net 0.20: net.http_get / net.http_post / net.http_delete with pg_net's signatures
-- and defaults return a request id at once; the request waits in net.http_request_queue; a worker outside the
-- database (stack/net_worker.ts, started by the local stack) sends it asynchronously, honouring
-- timeout_milliseconds, and records the outcome in net._http_response with pg_net's columns (status_code,
-- content_type, headers, content, timed_out, error_msg, created). Like pg_net, nothing is sent before the
-- calling transaction commits, and a rolled-back transaction sends nothing.
--
-- Each behaviour is taken from pg_net's own source (github.com/supabase/pg_net, v0.20.4): the functions and
-- tables from sql/pg_net.sql, what the worker sends and records from src/core.c. tests/pg_net.test.ts checks
-- them and cites the file for each.
--
-- Migrations never reference this file: they call the functions below exactly as they would call pg_net.

create schema if not exists net;

do $$
begin
  if not exists (select from pg_type t join pg_namespace n on n.oid = t.typnamespace
                 where n.nspname = 'net' and t.typname = 'http_method') then
    create domain net.http_method as text
      check (value ilike 'get' or value ilike 'post' or value ilike 'delete');
  end if;
end
$$;

create unlogged table if not exists net.http_request_queue (
  id bigserial primary key,
  method net.http_method not null,
  url text not null,
  headers jsonb,
  body bytea,
  timeout_milliseconds int not null
);

-- pg_net's column is nullable (a null headers argument is queued as is); older stand-ins had it not null.
alter table net.http_request_queue alter column headers drop not null;

create unlogged table if not exists net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out bool,
  error_msg text,
  created timestamptz not null default now()
);
create index if not exists _http_response_created_idx on net._http_response (created);

comment on table net.http_request_queue is 'pg_net stand-in: requests waiting for stack/net_worker.ts.';
comment on table net._http_response is 'pg_net stand-in: responses (kept 6 hours, like pg_net.ttl).';

-- Wakes the worker when the inserting transaction commits (notifications are transactional).
create or replace function net._wake_worker() returns trigger
language plpgsql
as $$
begin
  perform pg_notify('net_http_request_queue', '');
  return null;
end
$$;

drop trigger if exists wake_worker on net.http_request_queue;
create trigger wake_worker
after insert on net.http_request_queue
for each statement execute function net._wake_worker();

-- url?k=v&… with the params object url-encoded, as pg_net does.
create or replace function net._encode_url_with_params(url text, params jsonb) returns text
language plpgsql immutable
as $$
declare
  query text;
begin
  select string_agg(net._urlencode(key) || '=' || net._urlencode(value), '&')
  into query
  from jsonb_each_text(coalesce(params, '{}'::jsonb));
  if query is null then
    return url;
  end if;
  return url || case when position('?' in url) > 0 then '&' else '?' end || query;
end
$$;

create or replace function net._urlencode(input text) returns text
language plpgsql immutable strict
as $$
declare
  result text := '';
  ch text;
  b int;
begin
  foreach ch in array regexp_split_to_array(input, '') loop
    if ch ~ '^[A-Za-z0-9_.~-]$' then
      result := result || ch;
    else
      foreach b in array (select array_agg(get_byte(convert_to(ch, 'UTF8'), i))
                          from generate_series(0, octet_length(convert_to(ch, 'UTF8')) - 1) i) loop
        result := result || '%' || upper(lpad(to_hex(b), 2, '0'));
      end loop;
    end if;
  end loop;
  return result;
end
$$;

create or replace function net.http_get(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds int default 5000
) returns bigint
language plpgsql volatile
as $$
declare
  request_id bigint;
begin
  insert into net.http_request_queue (method, url, headers, timeout_milliseconds)
  values ('GET', net._encode_url_with_params(url, params), headers, timeout_milliseconds)
  returning id into request_id;
  return request_id;
end
$$;

create or replace function net.http_post(
  url text,
  body jsonb default '{}'::jsonb,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds int default 5000
) returns bigint
language plpgsql volatile
as $$
declare
  request_id bigint;
  content_type text;
begin
  select value into content_type
  from jsonb_each_text(coalesce(headers, '{}'::jsonb))
  where lower(key) = 'content-type'
  limit 1;

  -- As sql/pg_net.sql: a missing Content-Type is added (null headers stay null: null || jsonb is null), any
  -- other than exactly application/json is refused. A null body is queued as none: the worker then POSTs an
  -- empty body (src/core.c, CURLOPT_POSTFIELDSIZE 0).
  if content_type is null then
    headers := headers || '{"Content-Type": "application/json"}'::jsonb;
  end if;
  if content_type <> 'application/json' then
    raise exception 'Content-Type header must be "application/json"';
  end if;

  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values ('POST', net._encode_url_with_params(url, params), headers, convert_to(body::text, 'UTF8'),
          timeout_milliseconds)
  returning id into request_id;
  return request_id;
end
$$;

create or replace function net.http_delete(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds int default 5000,
  body jsonb default null
) returns bigint
language plpgsql volatile
as $$
declare
  request_id bigint;
begin
  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values ('DELETE', net._encode_url_with_params(url, params), headers, convert_to(body::text, 'UTF8'),
          timeout_milliseconds)
  returning id into request_id;
  return request_id;
end
$$;

comment on function net.http_get(text, jsonb, jsonb, int) is 'pg_net stand-in: queue a GET; returns the request id.';
comment on function net.http_post(text, jsonb, jsonb, jsonb, int) is
  'pg_net stand-in: queue a JSON POST; returns the request id.';
comment on function net.http_delete(text, jsonb, jsonb, int, jsonb) is
  'pg_net stand-in: queue a DELETE; returns the request id.';

-- Like Supabase's pg_net grants.
grant usage on schema net to postgres, service_role;
grant all on all tables in schema net to postgres, service_role;
grant all on all sequences in schema net to postgres, service_role;
grant execute on all functions in schema net to postgres, service_role;
revoke execute on all functions in schema net from public;
