-- What Supabase's Postgres image provides before any project migration runs, recreated for the
-- Docker-free local stack (stack/cli.ts runs this file on every start; it is idempotent).
--
--   roles       anon, authenticated, service_role (bypasses RLS), authenticator (the API's login role)
--   schemas     extensions (where extensions live), auth (users + the JWT helpers), vault (secrets)
--   pg_cron     in schema pg_catalog, as Supabase enables it (docs, "Cron → Install"), never in public
--   grants      Supabase's defaults: the API roles may use public; RLS is what protects rows
--   auth        auth.users, auth.uid(), auth.role(), auth.jwt(), auth.email() reading request.jwt.claims
--   vault       vault.secrets, vault.decrypted_secrets, vault.create_secret(), vault.update_secret()
--
-- LOCAL ONLY. The vault here has Supabase Vault's interface but not its security: secrets are encrypted with
-- pgcrypto under a key stored in this same database (vault._local_key). Hosted Supabase and `supabase start`
-- use the real Vault; nothing in supabase/migrations depends on the difference.

-- Roles ------------------------------------------------------------------------------------------------------
do $$
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit password 'postgres';
  end if;
  if not exists (select from pg_roles where rolname = 'supabase_admin') then
    create role supabase_admin login superuser createdb createrole replication bypassrls password 'postgres';
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;

-- Schemas and Supabase's default grants ---------------------------------------------------------------------
create schema if not exists extensions;
grant usage on schema extensions to postgres, anon, authenticated, service_role;
create extension if not exists pgcrypto with schema extensions;
create extension if not exists "uuid-ossp" with schema extensions;
-- Where hosted Supabase creates pg_cron (`create extension pg_cron with schema pg_catalog`): not in public,
-- which Supabase's advisor flags (lint "extension_in_public"). A migration's `create extension if not exists
-- pg_cron` then finds it. (pg_net: stack/database.ts creates it in schema extensions.)
create extension if not exists pg_cron with schema pg_catalog;

grant usage on schema public to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;

alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';

do $$
begin
  execute format('alter database %I set search_path = "$user", public, extensions', current_database());
end
$$;

-- auth ------------------------------------------------------------------------------------------------------
create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create table if not exists auth.users (
  id uuid primary key default gen_random_uuid(),
  aud varchar(255) default 'authenticated',
  role varchar(255) default 'authenticated',
  email varchar(255) unique,
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  raw_app_meta_data jsonb default '{}'::jsonb,
  raw_user_meta_data jsonb default '{}'::jsonb,
  is_anonymous boolean not null default false,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);
comment on table auth.users is 'Local stand-in for GoTrue''s users table (the columns projects usually reference).';

create or replace function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;
comment on function auth.jwt() is 'The verified JWT claims of the current request (request.jwt.claims).';

create or replace function auth.uid() returns uuid
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;
comment on function auth.uid() is 'The user id (sub claim) of the current request, or null.';

create or replace function auth.role() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;
comment on function auth.role() is 'The role claim of the current request (anon, authenticated, service_role).';

create or replace function auth.email() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;
comment on function auth.email() is 'The email claim of the current request, or null.';

grant execute on function auth.jwt(), auth.uid(), auth.role(), auth.email() to anon, authenticated, service_role;
grant select on auth.users to service_role;

-- vault (local stand-in) ------------------------------------------------------------------------------------
create schema if not exists vault;

create table if not exists vault._local_key (
  only_one boolean primary key default true check (only_one),
  key text not null default encode(extensions.gen_random_bytes(32), 'hex')
);
insert into vault._local_key default values on conflict do nothing;
revoke all on vault._local_key from public;

create table if not exists vault.secrets (
  id uuid primary key default gen_random_uuid(),
  name text unique,
  description text not null default '',
  secret text not null,
  key_id uuid,
  nonce bytea,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table vault.secrets is 'LOCAL STAND-IN for Supabase Vault: secret holds pgcrypto ciphertext.';

create or replace function vault._encrypt(plain text) returns text
language sql volatile
set search_path = ''
as $$
  select encode(extensions.pgp_sym_encrypt(plain, (select key from vault._local_key)), 'base64')
$$;

create or replace function vault._decrypt(cipher text) returns text
language sql stable
set search_path = ''
as $$
  select extensions.pgp_sym_decrypt(decode(cipher, 'base64'), (select key from vault._local_key))
$$;

create or replace view vault.decrypted_secrets as
select s.id, s.name, s.description, s.secret, vault._decrypt(s.secret) as decrypted_secret,
       s.key_id, s.nonce, s.created_at, s.updated_at
from vault.secrets s;
comment on view vault.decrypted_secrets is 'LOCAL STAND-IN for Supabase Vault''s decrypted_secrets view.';

create or replace function vault.create_secret(
  new_secret text,
  new_name text default null,
  new_description text default '',
  new_key_id uuid default null
) returns uuid
language plpgsql
set search_path = ''
as $$
declare
  new_id uuid;
begin
  insert into vault.secrets (secret, name, description, key_id)
  values (vault._encrypt(new_secret), new_name, coalesce(new_description, ''), new_key_id)
  returning id into new_id;
  return new_id;
end
$$;
comment on function vault.create_secret(text, text, text, uuid) is
  'Stores a secret (LOCAL STAND-IN with Supabase Vault''s signature); returns its id.';

create or replace function vault.update_secret(
  secret_id uuid,
  new_secret text default null,
  new_name text default null,
  new_description text default null,
  new_key_id uuid default null
) returns void
language plpgsql
set search_path = ''
as $$
begin
  update vault.secrets
  set secret = coalesce(vault._encrypt(new_secret), secret),
      name = coalesce(new_name, name),
      description = coalesce(new_description, description),
      key_id = coalesce(new_key_id, key_id),
      updated_at = now()
  where id = secret_id;
end
$$;
comment on function vault.update_secret(uuid, text, text, text, uuid) is
  'Updates a secret (LOCAL STAND-IN with Supabase Vault''s signature).';

-- Only the database owner (postgres) reads secrets; the API roles do not. SQL that needs a secret at run time
-- does so in a security definer function owned by postgres.
revoke all on schema vault from public, anon, authenticated, service_role;
revoke all on all tables in schema vault from public, anon, authenticated, service_role;
revoke all on all functions in schema vault from public, anon, authenticated, service_role;
