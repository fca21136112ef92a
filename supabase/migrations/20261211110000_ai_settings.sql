-- ai.settings: the operator's knobs for what runs inside Postgres (queue caps, retention of logs and queue
-- rows), one row per setting with its default and what it means. Change a value with plain SQL (as postgres or
-- the service role); every function reads the current value when it runs:
--
--   select * from ai.settings;
--   update ai.settings set value = '500' where name = 'typescript_errors.max_queued_per_user';
--   update ai.settings set value = '7 days' where name = 'retention.llm_responses';
--
-- A value that does not parse as its kind (integer, interval) is refused when it is written, not when a job
-- later reads it. Later migrations add their own settings with `insert … on conflict do nothing`, so an
-- operator's values survive new migrations.

create table ai.settings (
  name text primary key,
  value text not null,
  kind text not null check (kind in ('integer', 'interval')),
  description text not null
);
comment on table ai.settings is
  'Settings of the SQL side (queue caps, retention): name, value, kind (integer / interval), what it means.';
alter table ai.settings enable row level security;
grant select, update on ai.settings to service_role;

create function ai._validate_setting() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  begin
    if new.kind = 'integer' then
      perform new.value::bigint;
    else
      perform new.value::interval;
    end if;
  exception when others then
    raise exception 'setting % must be an %, got "%"', new.name, new.kind, new.value
      using hint = case new.kind when 'integer' then 'e.g. ''1000''' else 'e.g. ''30 days''' end;
  end;
  return new;
end
$$;
create trigger validate before insert or update on ai.settings
  for each row execute function ai._validate_setting();

-- The value of a setting (text: cast it to its kind); raises for an unknown name.
create function ai.setting(name text) returns text
language plpgsql stable
set search_path = ''
as $$
declare
  found_value text;
begin
  select s.value into found_value from ai.settings s where s.name = setting.name;
  if not found then
    raise exception 'unknown setting "%"', name using hint = 'See select name from ai.settings;';
  end if;
  return found_value;
end
$$;
comment on function ai.setting(text) is 'The current value of an ai.settings row, as text (cast it to its kind).';

revoke all on function ai.setting(text), ai._validate_setting() from public, anon, authenticated;
grant execute on function ai.setting(text) to service_role;
