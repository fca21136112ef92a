-- Seed data for local development and tests, applied by `supabase db push --include-seed` / `db reset`
-- (the local stack runs it once; the CLI records it in supabase_migrations.seed_files).
-- The built-in TypeScript knowledge base lives in ./seed/knowledge_base.sql (see config.toml [db.seed]).
select 1;
