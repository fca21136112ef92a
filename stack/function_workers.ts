// One Deno process per function, started on its first request, running that function's real index.ts under the
// hosted Edge Runtime's rules (../shared/FACTS.md), so that what passes here deploys:
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
// runtime starts a fresh isolate. Each process's CPU time is read from /proc for the gateway's request log.
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
}

interface Running {
  child: Deno.ChildProcess;
  origin: string;
  exited: Promise<void>;
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

/** CPU time (user + system, every thread) a process has used so far, in milliseconds; null if unknown. */
export async function processCpuMs(pid: number): Promise<number | null> {
  try {
    let ns = 0;
    for await (const task of Deno.readDir(`/proc/${pid}/task`)) {
      const text = await Deno.readTextFile(`/proc/${pid}/task/${task.name}/schedstat`).catch(() => "0");
      ns += Number(text.split(" ")[0]) || 0;
    }
    return ns / 1e6;
  } catch {
    return null;
  }
}

export class FunctionWorkers {
  #running = new Map<string, Running>();
  #starting = new Map<string, Promise<Running>>();
  #closed = false;

  constructor(private options: WorkerOptions) {}

  /** The function's process (started if needed): its origin (http://127.0.0.1:port) and pid. */
  async process(spec: FunctionSpec): Promise<{ origin: string; pid: number }> {
    if (this.#closed) throw new Error("the gateway is stopping");
    let running = this.#running.get(spec.name);
    if (!running) {
      let starting = this.#starting.get(spec.name);
      if (!starting) {
        starting = this.#spawn(spec).finally(() => this.#starting.delete(spec.name));
        this.#starting.set(spec.name, starting);
      }
      running = await starting;
    }
    return { origin: running.origin, pid: running.child.pid };
  }

  async #spawn(spec: FunctionSpec): Promise<Running> {
    const { supabaseDir, log } = this.options;
    await this.options.deps.ensure(spec);
    const port = freePort();
    const tmpDir = join(this.options.tmpDir, spec.name);
    await Deno.mkdir(tmpDir, { recursive: true });
    const processEnv: Record<string, string> = {};
    for (const name of PROCESS_ENV) {
      const value = Deno.env.get(name);
      if (value !== undefined) processEnv[name] = value;
    }
    const dotEnv = this.options.readDotEnv
      ? await readFunctionsDotEnv(supabaseDir, (line) => log(`[${spec.name}] ${line}`))
      : {};
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
      if (this.#running.get(spec.name)?.child === child) this.#running.delete(spec.name);
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
    const running = { child, origin: `http://127.0.0.1:${port}`, exited };
    this.#running.set(spec.name, running);
    return running;
  }

  /** Stops every function process and starts no new one. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#starting.values()]);
    await this.stopAll();
  }

  /** Stops every function process (they restart on their next request, with the current code). */
  async stopAll(): Promise<void> {
    const all = [...this.#running.values()];
    this.#running.clear();
    for (const { child } of all) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    await Promise.all(all.map((r) => r.exited));
  }
}
