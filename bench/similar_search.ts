// find_similar_errors against the plain HNSW query on the same rows, in the same run (issue 13, goal 3): p50/p99
// latency and recall@10 against the exact answer, at 100k rows, for
//
//   the service role   every row is the service's own (owner null) or the shared knowledge base: the plain
//                      query `where suggested_fix is not null and status <> 'rejected' order by code_embedding
//                      <=> $1 limit 10` sees exactly the rows find_similar_errors searches;
//   a user with 1 %    1 % of the rows are the user's, 1 % the shared knowledge base, 98 % belong to 98 other
//                      users; as that user (role authenticated, their JWT claims), RLS shows 2 %. The plain
//                      query through RLS is the floor the issue names; a second, stronger floor is the plain
//                      HNSW query on a table holding only the rows that user sees (what one table per tenant
//                      would give).
//
// Each at hnsw.ef_search 100 (shipped) and 200, the kinds of one comparison interleaved (rotating order per
// query, 3 passes after an untimed one), so that all see the same load; the previous definition (migration
// 20261211110500, recreated in a scratch schema) alone, at the shipped setting: it scans the table, which would
// disturb the others' timings. Exact answers: the same query with index scans off. Postgres's own counters show
// what each did: sequential scans of code_analysis and the HNSW tuples read per query.
//
// Rows: generated TypeScript diagnostics (bench/_error_corpus.ts), embedded with the stack's model as
// public.error_embedding_text() would; the queries are fresh diagnostics from another seed. Settings as shipped
// (iterative_scan relaxed_order, set for the database by the migrations).
//
//   npx -y deno@2 task bench bench/similar_search.ts                 100,000 rows (5-10 minutes on 2 cores)
//   options: --rows=N (100000)  --queries=N (200)  --seed=N (1)  --ef-search=A,B (100,200: each timed)
//            --keep-corpus  leave the embedded rows (schema bench_similar_corpus) for the next run, which reuses
//                           them when they are as many as --rows (for working on the search against a kept stack)
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import postgres from "postgres";
import { embeddingModelInfo } from "../stack/embedding_model.ts";
import { copyText, diagnostic, embedAsText, errorText, prng } from "./_error_corpus.ts";

function option(name: string): string | undefined {
  const prefix = `--${name}=`;
  return Deno.args.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}
const ROWS = Number(option("rows") ?? 100_000);
const QUERIES = Number(option("queries") ?? 200);
const SEED = Number(option("seed") ?? 1);
const K = 10;
const EMBED_BATCH = 32;
const CHUNK = 5_000;
const KEEP_CORPUS = Deno.args.includes("--keep-corpus");
const EF_SEARCH = (option("ef-search") ?? "100,200").split(",").map(Number);
const OTHER_USERS = 98;

const dbUrl = Deno.env.get("SUPABASE_DB_URL");
if (!dbUrl) throw new Error("SUPABASE_DB_URL is not set: run this through `npx -y deno@2 task bench`");
if (!Number.isInteger(ROWS) || ROWS < 1000) throw new Error("--rows must be an integer >= 1000");
if (!Number.isInteger(QUERIES) || QUERIES < 10) throw new Error("--queries must be an integer >= 10");

// One connection, unprepared statements: as the functions' pool runs them (planned with the actual vector).
const sql = postgres(dbUrl, { max: 1, prepare: false, onnotice: () => {}, idle_timeout: 0 });

// Corpus ------------------------------------------------------------------------------------------------------
/**
 * Generates and embeds `rows` diagnostics into bench_similar_corpus.corpus (n, text columns, vector); returns the
 * model's rate, or null when a kept corpus of that size was reused.
 */
async function loadCorpus(rows: number): Promise<number | null> {
  await sql`create schema bench_similar`;
  const [kept] = await sql`select to_regclass('bench_similar_corpus.corpus') is not null as found`;
  if (kept.found) {
    const [{ count }] = await sql`select count(*)::int as count from bench_similar_corpus.corpus`;
    if (count === rows) return null;
    await sql`drop schema bench_similar_corpus cascade`;
  }
  await sql`create schema bench_similar_corpus`;
  await sql`create table bench_similar_corpus.corpus (n int primary key, file_path text, error_code text,
            error_message text, code_snippet text, suggested_fix text, code_embedding extensions.vector(384),
            status text, verified boolean, confidence real)`;
  const rng = prng(SEED);
  let embedMs = 0;
  for (let done = 0; done < rows; done += CHUNK) {
    const chunk = Array.from({ length: Math.min(CHUNK, rows - done) }, () => diagnostic(rng));
    const t0 = performance.now();
    const vectors = await embedAsText(chunk.map(errorText), EMBED_BATCH);
    embedMs += performance.now() - t0;
    const lines = chunk.map((d, i) => {
      const r = rng();
      const status = r < 0.03 ? "rejected" : r < 0.23 ? "accepted" : "suggested";
      return [
        String(done + i),
        d.file,
        d.code,
        d.message,
        d.snippet,
        d.fix,
        vectors[i],
        status,
        rng() < 0.3 ? "t" : "f",
        String(Math.round(rng() * 100) / 100),
      ].map(copyText).join("\t") + "\n";
    });
    const writable = await sql.unsafe(`copy bench_similar_corpus.corpus from stdin`).writable();
    await pipeline(Readable.from(lines), writable);
    Deno.stdout.writeSync(new TextEncoder().encode(`\r  embedded ${done + chunk.length} / ${rows}`));
  }
  console.log();
  return rows / (embedMs / 1000);
}

/** The HNSW indexes of code_analysis, as the migrations define them (dropped for a load, rebuilt after). */
async function hnswIndexes(): Promise<{ name: string; definition: string }[]> {
  return (await sql`select indexname as name, indexdef as definition from pg_indexes
                    where schemaname = 'public' and tablename = 'code_analysis' and indexdef ilike '%using hnsw%'`)
    .map((r) => ({ name: r.name, definition: r.definition }));
}

/**
 * Replaces the bench rows of code_analysis with the corpus, owned as `ownerOf(n)` says (an SQL expression of
 * corpus.n giving owner and shared), then rebuilds the HNSW indexes after the data and analyzes.
 */
async function layout(owner: string, shared: string, indexes: { name: string; definition: string }[]) {
  for (const i of indexes) await sql.unsafe(`drop index if exists public.${i.name}`);
  await sql`delete from public.code_analysis where provider = 'bench-similar'`;
  await sql`alter table public.code_analysis disable trigger user`; // vectors given: nothing to queue
  await sql.unsafe(`
    insert into public.code_analysis (owner, shared, file_path, error_code, error_message, code_snippet,
      suggested_fix, code_embedding, status, verified, confidence, llm_model, provider)
    select ${owner}, ${shared}, file_path, error_code, error_message, code_snippet, suggested_fix,
           code_embedding, status, verified, confidence, 'bench', 'bench-similar'
    from bench_similar_corpus.corpus c`);
  await sql`alter table public.code_analysis enable trigger user`;
  await sql`vacuum analyze public.code_analysis`;
  const t0 = performance.now();
  for (const i of indexes) await sql.unsafe(i.definition);
  const seconds = (performance.now() - t0) / 1000;
  await sql`vacuum analyze public.code_analysis`;
  return seconds;
}

// Measuring -------------------------------------------------------------------------------------------------------
type Query = (vector: string) => Promise<string[]>;
interface Kind {
  name: string;
  query: Query;
}

const ids = (rows: { id: string }[]) => rows.map((r) => r.id);
const findSimilar: Query = async (q) =>
  ids(await sql`select id from public.find_similar_errors(${q}::extensions.vector(384), ${K})`);
const findSimilarBefore: Query = async (q) =>
  ids(await sql`select id from bench_similar.find_similar_errors(${q}::extensions.vector(384), ${K})`);
const plain: Query = async (q) =>
  ids(
    await sql`select id from public.code_analysis where suggested_fix is not null and status <> 'rejected'
                order by code_embedding operator(extensions.<=>) ${q}::extensions.vector(384) limit ${K}`,
  );
const plainVisibleOnly: Query = async (q) =>
  ids(
    await sql`select id from bench_similar.visible
                order by code_embedding operator(extensions.<=>) ${q}::extensions.vector(384) limit ${K}`,
  );

/** The previous find_similar_errors (migration 20261211110500), in the scratch schema. */
async function createPrevious(): Promise<void> {
  const migration = await Deno.readTextFile(
    new URL("../supabase/migrations/20261211110500_search_functions.sql", import.meta.url),
  );
  const definition = migration.match(/create or replace function public\.find_similar_errors[\s\S]*?\n\$\$;/)
    ?.[0];
  if (!definition) throw new Error("the previous find_similar_errors was not found in its migration");
  await sql.unsafe(definition.replace("public.find_similar_errors", "bench_similar.find_similar_errors"));
  await sql`grant usage on schema bench_similar to authenticated, service_role`;
  await sql`grant execute on function bench_similar.find_similar_errors to authenticated, service_role`;
}

/** Runs as `role` with `claims` (as PostgREST and the functions' asCaller do) until reset. */
async function actAs(role: string, claims: Record<string, unknown>) {
  await sql`select set_config('request.jwt.claims', ${JSON.stringify(claims)}, false)`;
  await sql.unsafe(`set role ${role}`);
}
const actAsOwner = () => sql`reset role`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

/** The exact answer of every query of `kind`: index scans off (a scan and a sort; exact by construction). */
async function exact(kind: Kind, vectors: string[]): Promise<string[][]> {
  await sql`set enable_indexscan = off`;
  try {
    const out: string[][] = [];
    for (const v of vectors) out.push(await kind.query(v));
    return out;
  } finally {
    await sql`reset enable_indexscan`;
  }
}

interface Counters {
  seqScans: number;
  hnswTuples: number;
}
/** code_analysis's sequential scans and the tuples read from its HNSW indexes (this backend's stats, flushed). */
async function counters(): Promise<Counters> {
  await sql`select pg_stat_force_next_flush()`;
  await sql`select 1`; // the flush happens when the previous statement's transaction ends
  const [row] = await sql`
    select (select seq_scan from pg_stat_user_tables where relid = 'public.code_analysis'::regclass)::float8
             as seq_scans,
           (select coalesce(sum(idx_tup_read), 0) from pg_stat_user_indexes s join pg_indexes i
              on i.schemaname = s.schemaname and i.indexname = s.indexrelname
            where s.relid = 'public.code_analysis'::regclass and i.indexdef ilike '%using hnsw%')::float8
             as hnsw_tuples`;
  return { seqScans: row.seq_scans, hnswTuples: row.hnsw_tuples };
}

interface Result {
  name: string;
  p50: number;
  p99: number;
  recall: number;
  seqScans: number;
  hnswTuplesPerQuery: number;
}

/**
 * First, per kind, one untimed pass with Postgres's counters read around it (as the table owner, then back to
 * `role`): its results (recall against the kind's exact answers, ties counted: a row as near as the exact 10th is
 * right), its sequential scans and HNSW tuples. Then the kinds are timed interleaved (rotating order per query,
 * `rounds` passes).
 */
async function compare(
  kinds: Kind[],
  vectors: string[],
  truth: string[][][],
  role: () => Promise<void>,
  rounds = 3,
): Promise<Result[]> {
  const results: string[][][] = [];
  const counted: Counters[] = [];
  for (const kind of kinds) {
    await actAsOwner();
    const before = await counters();
    await role();
    const got: string[][] = [];
    for (const v of vectors) got.push(await kind.query(v));
    await actAsOwner();
    const after = await counters();
    await role();
    results.push(got);
    counted.push({
      seqScans: after.seqScans - before.seqScans,
      hnswTuples: after.hnswTuples - before.hnswTuples,
    });
  }
  const latencies = kinds.map(() => [] as number[]);
  for (let round = 0; round < rounds; round++) {
    for (const [i, v] of vectors.entries()) {
      for (let j = 0; j < kinds.length; j++) {
        const at = (i + round + j) % kinds.length;
        const t0 = performance.now();
        await kinds[at].query(v);
        latencies[at].push(performance.now() - t0);
      }
    }
  }
  await actAsOwner();
  const out: Result[] = [];
  for (const [at, kind] of kinds.entries()) {
    latencies[at].sort((a, b) => a - b);
    out.push({
      name: kind.name,
      p50: percentile(latencies[at], 0.5),
      p99: percentile(latencies[at], 0.99),
      recall: await recallWithTies(vectors, results[at], truth[at]),
      seqScans: counted[at].seqScans,
      hnswTuplesPerQuery: counted[at].hnswTuples / vectors.length,
    });
  }
  return out;
}

/** True cosine distances of the given rows (as the table owner, untimed). */
async function distances(vector: string, rows: string[]): Promise<Map<string, number>> {
  const found = await sql`
    select id, code_embedding operator(extensions.<=>) ${vector}::extensions.vector(384) as d
    from public.code_analysis where id = any (${rows}::uuid[])
    union all
    select id, code_embedding operator(extensions.<=>) ${vector}::extensions.vector(384)
    from bench_similar.visible where id = any (${rows}::uuid[])`;
  return new Map(found.map((r) => [r.id as string, Number(r.d)]));
}

async function recallWithTies(vectors: string[], approx: string[][], truth: string[][]): Promise<number> {
  let hit = 0, total = 0;
  for (const [i, v] of vectors.entries()) {
    const d = await distances(v, [...approx[i], ...truth[i]]);
    const kth = Math.max(...truth[i].map((id) => d.get(id) ?? Infinity), -Infinity);
    total += truth[i].length;
    hit += Math.min(truth[i].length, approx[i].filter((id) => (d.get(id) ?? Infinity) <= kth + 1e-7).length);
  }
  return total === 0 ? 1 : hit / total;
}

// Run ---------------------------------------------------------------------------------------------------------
const model = embeddingModelInfo();
const [{ version }] = await sql`select extversion as version from pg_extension where extname = 'vector'`;
const [{ ef: shippedEf, iterative }] = await sql`select current_setting('hnsw.ef_search') as ef,
                                             current_setting('hnsw.iterative_scan') as iterative`;
console.log(
  `rows ${ROWS}, queries ${QUERIES}, model ${model.model} (${model.source}), pgvector ${version}, ` +
    `hnsw.ef_search ${shippedEf} (shipped), iterative_scan ${iterative}, ${navigator.hardwareConcurrency} cores`,
);
await sql`set maintenance_work_mem = '1GB'`;
await sql`set max_parallel_maintenance_workers = 2`;
await sql`drop schema if exists bench_similar cascade`;
await sql`delete from auth.users where email like 'similar-bench-%@example.test'`;
const embedRate = await loadCorpus(ROWS);
console.log(
  embedRate === null
    ? "  the kept corpus reused"
    : `  model: ${embedRate.toFixed(0)} texts/s (batch ${EMBED_BATCH})`,
);
await sql`create table bench_similar.visible (id uuid primary key, code_embedding extensions.vector(384))`;
await createPrevious();

const queryRng = prng(SEED + 7919);
const queryTexts = Array.from({ length: QUERIES }, () => errorText(diagnostic(queryRng)));
const queryVectors = await embedAsText(queryTexts, EMBED_BATCH);

// Users: the one measured, and the other tenants.
const [user] =
  await sql`insert into auth.users (email) values ('similar-bench-user@example.test') returning id`;
const others = await sql`insert into auth.users (email)
  select 'similar-bench-' || g || '@example.test' from generate_series(1, ${OTHER_USERS}) g returning id`;
await sql`create table bench_similar.owners (slot int primary key, owner uuid)`;
await sql`insert into bench_similar.owners select row_number() over () - 1, id from auth.users
          where id = any (${others.map((o) => o.id)}::uuid[])`;
const indexes = await hnswIndexes();
console.log(`  HNSW indexes: ${indexes.map((i) => i.name).join(", ")}`);

const report: string[] = [];
const row = (r: Result, floor: Result) =>
  "  " + r.name.padEnd(44) + r.p50.toFixed(2).padStart(8) + r.p99.toFixed(2).padStart(8) +
  r.recall.toFixed(3).padStart(11) + String(r.seqScans).padStart(11) +
  r.hnswTuplesPerQuery.toFixed(0).padStart(15) +
  `   ${(r.p50 / floor.p50).toFixed(2)}`;

/**
 * One scenario: exact answers once, then per ef_search the kinds timed interleaved (the first is
 * find_similar_errors, `floor` the one it is held to); the previous definition alone, at the shipped ef_search
 * (its sequential scans would disturb the others' timings if interleaved).
 */
async function scenario(
  title: string,
  kinds: Kind[],
  floor: string,
  role: () => Promise<void>,
): Promise<Result[][]> {
  console.log(`\n${title}`);
  const previous: Kind = {
    name: "find_similar_errors (before: one filtered HNSW scan)",
    query: findSimilarBefore,
  };
  await role();
  const truth: string[][][] = [];
  for (const k of [...kinds, previous]) truth.push(await exact(k, queryVectors));
  const all: Result[][] = [];
  for (const efSearch of EF_SEARCH) {
    await sql.unsafe(`set hnsw.ef_search = ${efSearch}`);
    const results = await compare(kinds, queryVectors, truth.slice(0, kinds.length), role);
    const f = results.find((r) => r.name === floor)!;
    console.log(
      `  hnsw.ef_search ${efSearch}\n  ` + "query".padEnd(44) + "p50 ms".padStart(8) + "p99 ms".padStart(8) +
        "recall@10".padStart(11) + "seq scans".padStart(11) + "HNSW tuples/q".padStart(15) +
        `   p50 / ${floor}`,
    );
    for (const r of results) console.log(row(r, f));
    report.push(
      `${title}, ef_search ${efSearch}: find_similar_errors p50 ${results[0].p50.toFixed(2)} ms, recall ${
        results[0].recall.toFixed(3)
      }; ${floor} p50 ${f.p50.toFixed(2)} ms, recall ${f.recall.toFixed(3)}; ratio ${
        (results[0].p50 / f.p50).toFixed(2)
      }`,
    );
    all.push(results);
  }
  await sql.unsafe(`set hnsw.ef_search = ${shippedEf}`);
  const [before] = await compare([previous], queryVectors, truth.slice(kinds.length), role, 1);
  console.log(
    `  hnsw.ef_search ${shippedEf} (shipped), alone:\n${row(before, all[0][0])}   (/ find_similar_errors)`,
  );
  report.push(
    `  before: p50 ${before.p50.toFixed(2)} ms, recall ${before.recall.toFixed(3)}, ${before.seqScans} ` +
      `sequential scans in ${QUERIES} queries`,
  );
  await actAsOwner();
  return all;
}

// 1. The service role: every row the service's own.
let seconds = await layout("null", "false", indexes);
console.log(`\n  service layout: ${ROWS} rows owner null; HNSW builds ${seconds.toFixed(1)} s`);
await scenario(
  "service role, 100 % of the rows",
  [{ name: "find_similar_errors", query: findSimilar }, { name: "plain HNSW query", query: plain }],
  "plain HNSW query",
  () => actAs("service_role", { role: "service_role" }),
);

// 2. A user with 1 % of the rows, 1 % shared, 98 % other users'.
seconds = await layout(
  `case when c.n % 100 = 0 then '${user.id}'::uuid when c.n % 100 = 1 then null
        else (select o.owner from bench_similar.owners o where o.slot = c.n % ${OTHER_USERS}) end`,
  "c.n % 100 = 1",
  indexes,
);
await sql`insert into bench_similar.visible select id, code_embedding from public.code_analysis
          where (shared or owner = ${user.id}) and suggested_fix is not null and status <> 'rejected'`;
await sql`create index on bench_similar.visible using hnsw (code_embedding extensions.vector_cosine_ops)`;
await sql`grant select on bench_similar.visible to authenticated`;
await sql`analyze bench_similar.visible`;
const [{ visible }] = await sql`select count(*)::int as visible from public.code_analysis
                                where shared or owner = ${user.id}`;
console.log(
  `\n  user layout: ${visible} of ${ROWS} rows visible to the user (1 % theirs, 1 % shared); HNSW builds ${
    seconds.toFixed(1)
  } s`,
);
const claims = { sub: user.id, role: "authenticated", aud: "authenticated" };
const filtered = await scenario(
  "a user who sees 1 % of the rows + the shared 1 %",
  [
    { name: "find_similar_errors", query: findSimilar },
    { name: "plain HNSW query through RLS", query: plain },
    { name: "plain HNSW, a table of the visible rows only", query: plainVisibleOnly },
  ],
  "plain HNSW query through RLS",
  () => actAs("authenticated", claims),
);
for (const [i, results] of filtered.entries()) {
  const visibleOnly = results.find((r) => r.name.startsWith("plain HNSW, a table"))!;
  report.push(
    `  ef_search ${
      EF_SEARCH[i]
    }: against the stronger floor (plain HNSW on a table of the visible rows only, ` +
      `p50 ${visibleOnly.p50.toFixed(2)} ms): ratio ${(results[0].p50 / visibleOnly.p50).toFixed(2)}`,
  );
}

await sql`delete from public.code_analysis where provider = 'bench-similar'`;
await sql`delete from auth.users where id = any (${[user.id, ...others.map((o) => o.id)]}::uuid[])`;
await sql`drop schema bench_similar cascade`;
if (!KEEP_CORPUS) await sql`drop schema bench_similar_corpus cascade`;

console.log(`\n== similar_search: ${ROWS} rows x 384 dims, ${QUERIES} queries, top ${K} ==`);
for (const line of report) console.log(line);
console.log(
  `"seq scans": sequential scans of code_analysis during one pass over the queries; "HNSW tuples/q": ` +
    `tuples read from code_analysis's HNSW indexes per query (a scan that walks far to find rows that pass ` +
    `its filter reads many).`,
);
await sql.end();
