-- How SQL authenticates its calls to the worker functions (pg_net wake-ups), for legacy and new-style keys.
--
-- The Vault secret `service_role_key` may hold either kind of key:
--   * a legacy service_role JWT (eyJ…): sent as `Authorization: Bearer <key>` (and as `apikey`), as before;
--   * a new-style secret key (sb_secret_…): sent as `apikey: <key>` only. It is not a JWT, and hosted Supabase's
--     gateway refuses it in `Authorization: Bearer` (401); the workers run with verify_jwt = false and compare
--     the apikey header with SUPABASE_SECRET_KEYS themselves (supabase/functions/_shared/auth.ts).
--
-- Usage is unchanged: select vault.create_secret('<service_role or sb_secret key>', 'service_role_key');

-- The headers a call to one of this project's functions carries for `key`.
create function ai.edge_function_headers(key text) returns jsonb
language sql immutable
set search_path = ''
as $$
  select case
    when key like 'sb\_%' then jsonb_build_object('Content-Type', 'application/json', 'apikey', key)
    else jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || key, 'apikey', key)
  end;
$$;
comment on function ai.edge_function_headers(text) is
  'Headers for calling this project''s edge functions with `key`: sb_… API keys in the apikey header only (hosted''s gateway refuses them as Bearer tokens), legacy JWT keys as Authorization: Bearer.';
revoke all on function ai.edge_function_headers(text) from public, anon, authenticated;

-- POST /functions/v1/<function_name> with the service key from Vault; returns pg_net's request id.
create or replace function ai.invoke_edge_function(function_name text, body jsonb default '{}'::jsonb, timeout_ms int default 5000)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  project_url text;
  service_key text;
begin
  if function_name !~ '^[a-z0-9][a-z0-9_-]*$' then
    raise exception 'invalid function name "%"', function_name;
  end if;
  select decrypted_secret into project_url from vault.decrypted_secrets where name = 'project_url';
  select decrypted_secret into service_key from vault.decrypted_secrets where name = 'service_role_key';
  if project_url is null or service_key is null then
    raise exception 'Vault secret % is missing', case when project_url is null then 'project_url' else 'service_role_key' end
      using hint = 'select vault.create_secret(''https://<project-ref>.supabase.co'', ''project_url''); '
                || 'select vault.create_secret(''<service_role key or sb_secret_… key>'', ''service_role_key'');';
  end if;
  return net.http_post(
    url := rtrim(project_url, '/') || '/functions/v1/' || function_name,
    body := body,
    headers := ai.edge_function_headers(service_key),
    timeout_milliseconds := timeout_ms
  );
end
$$;
comment on function ai.invoke_edge_function(text, jsonb, int) is
  'POST to an edge function of this project with the service key from Vault (through pg_net; legacy JWT or sb_secret_ key, see ai.edge_function_headers); returns the request id.';
