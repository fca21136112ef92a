// Deno processes per function, the first started on its first request, each running that function's real
// index.ts under the hosted Edge Runtime's rules (../shared/FACTS.md), so that what passes here deploys:
//
//   - imports resolved from the function's own deno.json (as `supabase functions deploy` does), from the cache
//     only: ./deps.ts has cached them, with the function's lockfile, before the process starts;
//   - the runtime API (`Supabase.ai.Session`, `EdgeRuntime.waitUntil`) and the sync-read rule, installed by
//     ./runtime/boot.ts before the function's module runs;
//   - no FFI (native addons), no subprocesses; reads only inside supabase/functions and its own temp folder,
//     writes only to that temp folder; a 256 MB heap;
//   - exactly hosted's environment (config.ts platformEnv) plus supabase/functions/.env for the dev stack (names
//     with the reserved SUPABASE_ prefix refused, as `supabase secrets set` refuses them) plus the machine's
//     proxy and certificate settings, so that the function's own HTTPS calls work behind a proxy.
//
// A function that crashes takes down only its own process; the next request starts a fresh one, as the edge
// runtime starts a fresh isolate. Hosted runs many isolates of one function under load: with `processes` above
// 1, a request that finds every process of its function busy starts another one in the background (up to that
// many; each has its own pool, memory and environment, SB_EXECUTION_ID included) and goes to the least busy
// process meanwhile. Each response carries the CPU time its process spent on it (./runtime/edge_runtime.ts).
import { join } from "node:path";
import { RESERVED_ENV_PREFIX, ROOT } from "./config.ts";
import type { DependencyCache } from "./deps.ts";
import type { FunctionSpec } from "./functions.ts";

export interface WorkerOptions {
  /** The project's supabase/ folder. */
  supabaseDir: string;
  /** Hosted's variables plus the caller's overrides (tests); wins over supabase/functions/.env. */
  env: Record<string, string>;
  /** Read supabase/functions/.env each time a process starts (dev stack only). */
  readDotEnv: boolean;
  /** The model runner behind Supabase.ai.Session. */
  aiUrl: string;
  /** Where the functions' temp folders go. */
  tmpDir: string;
  deps: DependencyCache;
  log: (line: string) => void;
  /** At most this many processes per function (default 1). */
  processes?: number;
}

interface Running {
  child: Deno.ChildProcess;
  origin: string;
  exited: Promise<void>;
  /** Requests sent to it whose response has not started yet. */
  inFlight: number;
  /** Its number among the function's processes (1, 2, …): names its temp folder. */
  slot: number;
}

/** A process serving one request: release() when the response has started (or failed). */
export interface Lease {
  origin: string;
  pid: number;
  release(): void;
}

/** Hosted's memory limit (V8 heap and external memory; the heap is what a process flag can cap). */
export const HEAP_LIMIT_MB = 256;

const BOOT = join(ROOT, "stack", "runtime", "boot.ts");

/** What the Deno process itself needs (not the function): its cache, locale, and the network's settings. */
const PROCESS_ENV = [
  "PATH",
  "HOME",
  "DENO_DIR",
  "LANG",
  "NO_COLOR",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "ALL_PROXY",
  "all_proxy",
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "NODE_EXTRA_CA_CERTS",
];

export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** KEY=value lines of supabase/functions/.env (comments and blank lines ignored, quotes stripped). */
export function parseDotEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = line.match(/^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/);
    if (!match) continue;
    env[match[1]] = match[2].replace(/^(['"])(.*)\1$/, "$2");
  }
  return env;
}

/**
 * supabase/functions/.env without the names hosted reserves: each refused name is reported with the message
 * `supabase secrets set` prints, and the function runs without it.
 */
export async function readFunctionsDotEnv(
  supabaseDir: string,
  warn: (line: string) => void,
): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(supabaseDir, "functions", ".env"));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    throw error;
  }
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(parseDotEnv(text))) {
    if (name.startsWith(RESERVED_ENV_PREFIX)) {
      warn(
        `supabase/functions/.env: Env name cannot start with ${RESERVED_ENV_PREFIX}, skipping: ${name} ` +
          "(hosted Supabase sets these itself and `supabase secrets set` refuses them)",
      );
      continue;
    }
    env[name] = value;
  }
  return env;
}

/** The Deno flags that hold a function to the Edge Runtime's rules. */
export function runtimeFlags(spec: FunctionSpec, supabaseDir: string, tmpDir: string): string[] {
  return [
    "--no-prompt",
    "--cached-only",
    ...spec.resolutionArgs,
    ...spec.lockArgs,
    "--allow-net",
    "--allow-env",
    `--allow-read=${join(supabaseDir, "functions")},${tmpDir}`,
    `--allow-write=${tmpDir}`,
    "--deny-run",
    "--deny-ffi",
    `--v8-flags=--max-old-space-size=${HEAP_LIMIT_MB}`,
  ];
}

async function waitForPort(port: number, exited: { done: boolean }, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !exited.done) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error(exited.done ? "exited before serving" : `did not start serving within ${timeoutMs} ms`);
}

async function pipeLines(stream: ReadableStream<Uint8Array>, emit: (line: string) => void, tail: string[]) {
  let buffered = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) {
      emit(line);
      tail.push(line);
      if (tail.length > 30) tail.shift();
    }
  }
  if (buffered) emit(buffered);
}

export class FunctionWorkers {
  #running = new Map<string, Running[]>();
  /** Processes being started, per function. */
  #starting = new Map<string, Set<Promise<Running>>>();
  /** Slots of the function's processes, running or starting. */
  #slots = new Map<string, Set<number>>();
  #closed = false;

  constructor(private options: WorkerOptions) {}

  get maxProcesses(): number {
    return Math.max(1, Math.floor(this.options.processes ?? 1));
  }

  /** How many processes the function has now (started ones). */
  processCount(name: string): number {
    return this.#running.get(name)?.length ?? 0;
  }

  /**
   * A process of the function for one request: an idle one, else (below the maximum) a new one is started in
   * the background while the least busy one takes the request; with none running, the request waits for the
   * first.
   */
  async process(spec: FunctionSpec): Promise<Lease> {
    if (this.#closed) throw new Error("the gateway is stopping");
    const running = this.#running.get(spec.name) ?? [];
    const starting = this.#starting.get(spec.name)?.size ?? 0;
    let chosen = running.find((r) => r.inFlight === 0);
    if (!chosen) {
      if (running.length + starting < this.maxProcesses) {
        const started = this.#start(spec);
        if (running.length === 0) chosen = await started;
        else started.catch(() => {}); // its failure is logged; the running ones keep serving
      } else if (running.length === 0) {
        chosen = await Promise.race(this.#starting.get(spec.name)!);
      }
      chosen ??= running.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    }
    const lease = chosen;
    lease.inFlight++;
    let released = false;
    return {
      origin: lease.origin,
      pid: lease.child.pid,
      release: () => {
        if (!released) lease.inFlight--;
        released = true;
      },
    };
  }

  #start(spec: FunctionSpec): Promise<Running> {
    const set = this.#starting.get(spec.name) ?? new Set<Promise<Running>>();
    this.#starting.set(spec.name, set);
    const started: Promise<Running> = this.#spawn(spec).then((running) => {
      if (this.#closed) {
        running.child.kill("SIGTERM");
        throw new Error("the gateway is stopping");
      }
      this.#running.set(spec.name, [...(this.#running.get(spec.name) ?? []), running]);
      return running;
    }).finally(() => set.delete(started));
    set.add(started);
    return started;
  }

  async #spawn(spec: FunctionSpec): Promise<Running> {
    const { supabaseDir, log } = this.options;
    await this.options.deps.ensure(spec);
    const port = freePort();
    // Each process its own temp folder, as each isolate has its own (the first keeps the function's name).
    const used = this.#slots.get(spec.name) ?? new Set<number>();
    this.#slots.set(spec.name, used);
    let slot = 1;
    while (used.has(slot)) slot++;
    used.add(slot);
    const tmpDir = join(this.options.tmpDir, slot === 1 ? spec.name : `${spec.name}-${slot}`);
    const processEnv: Record<string, string> = {};
    for (const name of PROCESS_ENV) {
      const value = Deno.env.get(name);
      if (value !== undefined) processEnv[name] = value;
    }
    let dotEnv: Record<string, string>;
    try {
      await Deno.mkdir(tmpDir, { recursive: true });
      dotEnv = this.options.readDotEnv
        ? await readFunctionsDotEnv(supabaseDir, (line) => log(`[${spec.name}] ${line}`))
        : {};
    } catch (error) {
      used.delete(slot);
      throw error;
    }
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...runtimeFlags(spec, supabaseDir, tmpDir), BOOT],
      cwd: spec.dir,
      clearEnv: true,
      env: {
        ...processEnv,
        TMPDIR: tmpDir,
        ...dotEnv,
        ...this.options.env,
        SB_EXECUTION_ID: crypto.randomUUID(),
        // Private to ./runtime/boot.ts, which removes them before the function runs.
        SB_STACK_ENTRYPOINT: spec.entrypoint,
        SB_STACK_PORT: String(port),
        SB_STACK_AI_URL: this.options.aiUrl,
      },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const tail: string[] = [];
    const emit = (line: string) => log(`[${spec.name}] ${line}`);
    void pipeLines(child.stdout, emit, tail);
    void pipeLines(child.stderr, emit, tail);
    const state = { done: false };
    const exited = child.status.then((status) => {
      state.done = true;
      used.delete(slot);
      const left = (this.#running.get(spec.name) ?? []).filter((r) => r.child !== child);
      if (left.length) this.#running.set(spec.name, left);
      else this.#running.delete(spec.name);
      log(`[${spec.name}] process exited (code ${status.code}${status.signal ? `, ${status.signal}` : ""})`);
    });
    try {
      await waitForPort(port, state, 60_000);
    } catch (error) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await exited;
      throw new Error(`function ${spec.name} ${(error as Error).message}:\n${tail.join("\n")}`);
    }
    return { child, origin: `http://127.0.0.1:${port}`, exited, inFlight: 0, slot };
  }

  /** Stops every function process and starts no new one. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#starting.values()].flatMap((set) => [...set]));
    await this.stopAll();
  }

  /** Stops every function process (they restart on their next request, with the current code). */
  async stopAll(): Promise<void> {
    const all = [...this.#running.values()].flat();
    this.#running.clear();
    for (const { child } of all) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    await Promise.all(all.map((r) => r.exited));
  }
}
