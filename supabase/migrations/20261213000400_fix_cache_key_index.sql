-- The fix answer cache's lookup finds an entry by its key: `owner is not distinct from $1 and key = $2` cannot use
-- the (owner, key) unique index (IS NOT DISTINCT FROM is not an index condition), so each lookup read the whole
-- table — 13 ms at 20,000 entries, growing with every cached answer. The key (a SHA-256 of the request) alone
-- finds the entry; the owner is then checked on that one row.
create index fix_cache_key_idx on public.fix_cache (key);
