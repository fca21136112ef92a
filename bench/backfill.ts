// Automatic-embedding backfill at the limit (issue 13, goal 4), against the bench stack with the tiny test model:
//
//   1. the model alone, in this process (stack/embedding_model.ts, the model behind Supabase.ai.Session): batch 1,
//      32 and 64 — the floor of any pipeline;
//   2. Postgres alone writing the same vectors (precomputed) into an HNSW-indexed table in batches of 64, as the
//      worker's write-back does, at each size — the other floor: pgvector's index maintenance;
//   3. our pipeline: one INSERT of N rows into public.code_snippets; the trigger wakes embed-worker through pg_net
//      (the stack's stand-in is paced like real pg_net: at most 200 requests, then about a second's sleep) and the
//      worker drains the queue itself, in ~1 s slices that wake the next; timed until every vector is set. N =
//      10,000 and 100,000, to show whether rows/s holds as the table and its index grow.
//
// For each, the CPU time the stack's processes spent (from /proc: the embed-worker's process, the model runner,
// Postgres's backends), per row: on 2 cores the pipeline cannot beat 2 / (CPU ms per row) rows/s, whatever it
// overlaps, so the figures say which floor binds.
//
//   npx -y deno@2 task bench bench/backfill.ts           10k and 100k rows (a few minutes)
//   options: --rows=N,M (10000,100000)
//            --compare=ENV=V[;ENV=V…][,…]   also run the first size through a gateway with these settings, each
//                                           interleaved twice with the shipped ones (e.g. EMBED_WRITEBACKS=1)
import { join } from "node:path";
import postgres from "postgres";
import { startExtraGateway } from "../stack/attach.ts";
import { embed } from "../stack/embedding_model.ts";
import { pointWakeUpsAt } from "../tests/_functions.ts";

function option(name: string): string | undefined {
  const prefix = `--${name}=`;
  return Deno.args.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}
const SIZES = (option("rows") ?? "10000,100000").split(",").map(Number);
const dbUrl = Deno.env.get("SUPABASE_DB_URL");
const stateDir = Deno.env.get("STACK_STATE_DIR");
if (!dbUrl || !stateDir) throw new Error("run this through `npx -y deno@2 task bench bench/backfill.ts`");

const sql = postgres(dbUrl, { max: 4, onnotice: () => {}, idle_timeout: 0 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits });
const textOf = (i: number) =>
  `Type '${["string", "number", "boolean"][i % 3]}' is not assignable to type '${
    ["object", "null", "undefined"][(i * 7) % 3]
  }' in ${["user", "items", "config", "response", "value"][i % 5]} #${i}.`;
const TEXT_SQL = `'Type ''' || (array['string','number','boolean'])[i % 3 + 1] ||
  ''' is not assignable to type ''' || (array['object','null','undefined'])[(i * 7) % 3 + 1] ||
  ''' in ' || (array['user','items','config','response','value'])[i % 5 + 1] || ' #' || i || '.'`;

// CPU accounting ------------------------------------------------------------------------------------------------

function procStat(pid: number): { ppid: number; ms: number } | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(fields[1]), ms: (Number(fields[11]) + Number(fields[12])) * 10 };
  } catch {
    return null;
  }
}

/** CPU ms so far of: Postgres (the postmaster's children), the model runner, the embed-worker processes. */
function cpu(): Record<string, number> {
  const postmaster = Number(
    Deno.readTextFileSync(join(stateDir!, "pg", "data", "postmaster.pid")).split("\n")[0],
  );
  const out: Record<string, number> = { postgres: 0, "model runner": 0, "embed-worker": 0 };
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    const stat = procStat(pid);
    if (!stat) continue;
    if (stat.ppid === postmaster || pid === postmaster) {
      out.postgres += stat.ms;
      continue;
    }
    let cmd = "";
    try {
      cmd = Deno.readTextFileSync(`/proc/${pid}/cmdline`).replace(/\0/g, " ");
    } catch { /* gone */ }
    if (!cmd.includes("model_runner.ts") && !cmd.includes("embed-worker")) continue;
    if (cmd.includes("model_runner.ts")) out["model runner"] += stat.ms;
    else if (cmd.includes("embed-worker")) out["embed-worker"] += stat.ms;
  }
  return out;
}

function cpuPerRow(before: Record<string, number>, after: Record<string, number>, rows: number) {
  const parts = Object.keys(after).map((k) => [k, (after[k] - (before[k] ?? 0)) / rows] as const);
  const total = parts.reduce((s, [, v]) => s + v, 0);
  return { parts, total };
}

// 1. The model alone -------------------------------------------------------------------------------------------

async function modelAlone(batch: number, count: number): Promise<number> {
  const texts = Array.from({ length: count }, (_, i) => textOf(i));
  await embed(texts.slice(0, 64)); // warm
  const t0 = performance.now();
  for (let i = 0; i < texts.length; i += batch) await embed(texts.slice(i, i + batch));
  return count / ((performance.now() - t0) / 1000);
}

// 2. Postgres alone: the write-back of precomputed vectors -------------------------------------------------------

async function writeBackAlone(count: number): Promise<number> {
  await sql`drop schema if exists bench_backfill cascade`;
  await sql`create schema bench_backfill`;
  await sql`create table bench_backfill.rows (id int primary key, content text, embedding extensions.vector(384))`;
  await sql`create index on bench_backfill.rows using hnsw (embedding extensions.vector_cosine_ops)`;
  await sql.unsafe(
    `insert into bench_backfill.rows (id, content) select i, ${TEXT_SQL} from generate_series(1, $1::int) i`,
    [
      count,
    ],
  );
  const vectors: string[] = [];
  for (let i = 0; i < count; i += 64) {
    const batch = await embed(Array.from({ length: Math.min(64, count - i) }, (_, j) => textOf(i + j + 1)));
    for (const v of batch) vectors.push(`[${v.join(",")}]`);
  }
  const t0 = performance.now();
  for (let i = 0; i < count; i += 64) {
    const ids = Array.from({ length: Math.min(64, count - i) }, (_, j) => i + j + 1);
    await sql`update bench_backfill.rows r set embedding = v.e::extensions.vector
              from unnest(${ids}::int[], ${vectors.slice(i, i + 64)}::text[]) as v(id, e) where r.id = v.id`;
  }
  const rate = count / ((performance.now() - t0) / 1000);
  await sql`drop schema bench_backfill cascade`;
  return rate;
}

// 3. Our pipeline ------------------------------------------------------------------------------------------------

async function settled(): Promise<void> {
  while (true) {
    const rows = await sql`select pending, in_flight, expired_claims from ai.embedding_status`;
    if (rows.every((r) => Number(r.pending) + Number(r.in_flight) + Number(r.expired_claims) === 0)) return;
    await sleep(200);
  }
}

async function pipeline(count: number) {
  await settled();
  const run = crypto.randomUUID();
  const before = cpu();
  const t0 = performance.now();
  await sql.unsafe(
    `insert into public.code_snippets (content, metadata)
     select ${TEXT_SQL}, jsonb_build_object('backfill', $1::text) from generate_series(1, $2::int) i`,
    [run, count],
  );
  const insertMs = performance.now() - t0;
  while (true) {
    const [{ left }] = await sql`select count(*)::int as left from public.code_snippets
                                 where metadata ->> 'backfill' = ${run} and embedding is null`;
    if (left === 0) break;
    await sleep(100);
  }
  const seconds = (performance.now() - t0) / 1000;
  const usage = cpuPerRow(before, cpu(), count);
  await settled();
  await sql`delete from public.code_snippets where metadata ->> 'backfill' = ${run}`;
  return { rate: count / seconds, insertMs, usage };
}

// Report ---------------------------------------------------------------------------------------------------------

const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
console.log(`bench/backfill.ts; load average ${load()} (2 cores, shared)`);
const floorRows = Math.min(5_000, SIZES[0]);
const single = await modelAlone(1, floorRows);
const batch32 = await modelAlone(32, floorRows);
const batch64 = await modelAlone(64, floorRows);
console.log(
  `  model alone (in process): batch 1 ${fmt(single)} rows/s, batch 32 ${fmt(batch32)}, batch 64 ${
    fmt(batch64)
  }`,
);
// The write-back floor at each size: HNSW maintenance costs more per row as the index grows.
const writes = new Map<number, number>();
for (const rows of SIZES) {
  writes.set(rows, await writeBackAlone(rows));
  console.log(
    `  Postgres alone, writing ${fmt(rows)} precomputed vectors into an HNSW-indexed table: ${
      fmt(writes.get(rows)!)
    } rows/s`,
  );
}

const runs: Array<{ rows: number; rate: number }> = [];
for (const rows of SIZES) {
  const { rate, insertMs, usage } = await pipeline(rows);
  runs.push({ rows, rate });
  console.log(
    `  our pipeline, ${fmt(rows)} rows: ${fmt(rate)} rows/s (insert ${fmt(insertMs)} ms); CPU per row ${
      usage.parts.map(([k, v]) => `${k} ${v.toFixed(3)} ms`).join(", ")
    } = ${usage.total.toFixed(3)} ms → on 2 cores at most ${fmt(2000 / usage.total)} rows/s`,
  );
}

const best = Math.max(single, batch32, batch64);
console.log(`\n  goal                                                     ours        ratio   goal`);
for (const { rows, rate } of runs) {
  for (const [label, floor] of [["batch 1", single], ["batch 32", batch32], ["best batch", best]] as const) {
    console.log(
      `  pipeline ${fmt(rows).padStart(7)} rows / model alone ${label.padEnd(10)} ${
        fmt(rate).padStart(7)
      } / ${fmt(floor).padStart(6)}   ${(rate / floor).toFixed(2).padStart(5)}   ≥ 0.80 ${
        rate / floor >= 0.8 ? "met" : "MISSED"
      }`,
    );
  }
  const write = writes.get(rows)!;
  console.log(
    `  pipeline ${fmt(rows).padStart(7)} rows / Postgres write-back alone     ${fmt(rate).padStart(7)} / ${
      fmt(write).padStart(6)
    }   ${(rate / write).toFixed(2).padStart(5)}`,
  );
}
if (runs.length > 1) {
  const ratio = runs.at(-1)!.rate / runs[0].rate;
  console.log(
    `  linearity: ${fmt(runs.at(-1)!.rows)} rows / ${fmt(runs[0].rows)} rows, rows/s ratio ${
      ratio.toFixed(2)
    }   ≥ 0.90 ${ratio >= 0.9 ? "met" : "MISSED"}`,
  );
  const floorRatio = writes.get(runs.at(-1)!.rows)! / writes.get(runs[0].rows)!;
  console.log(
    `  the floor's own linearity: Postgres write-back alone, ${fmt(runs.at(-1)!.rows)} / ${
      fmt(runs[0].rows)
    } rows, rows/s ratio ${floorRatio.toFixed(2)}`,
  );
}
const compare = option("compare");
if (compare) {
  console.log(
    `\n  the same ${fmt(SIZES[0])} rows through gateways with other settings (interleaved, twice):`,
  );
  for (const variant of compare.split(",")) {
    const env = Object.fromEntries(variant.split(";").map((kv) => kv.split("=") as [string, string]));
    const gateway = startExtraGateway(env);
    const rates: Record<string, number[]> = { shipped: [], [variant]: [] };
    for (let round = 0; round < 2; round++) {
      rates.shipped.push((await pipeline(SIZES[0])).rate);
      const restore = await pointWakeUpsAt(sql, gateway.url);
      try {
        rates[variant].push((await pipeline(SIZES[0])).rate);
      } finally {
        await restore();
      }
    }
    await gateway.stop();
    for (const [name, values] of Object.entries(rates)) {
      console.log(`    ${name.padEnd(40)} ${values.map((v) => fmt(v)).join(", ")} rows/s`);
    }
  }
}
console.log(`load average at the end ${load()}`);
await sql.end();
