// One Deno process per function, started on its first request and running that function's real index.ts
// (`Deno.serve`, bound to a private port through DENO_SERVE_ADDRESS). A function that crashes takes down only
// its own process; the next request starts a fresh one, as the edge runtime starts a fresh isolate.
import { type FunctionSpec, readFunctionsDotEnv } from "./functions.ts";

export interface WorkerOptions {
  /** The project's supabase/ folder: its functions/.env is read each time a process starts. */
  supabaseDir: string;
  /** Environment of every function process (platform variables, overrides); wins over functions/.env. */
  env: Record<string, string>;
  log: (line: string) => void;
}

interface Running {
  child: Deno.ChildProcess;
  origin: string;
  exited: Promise<void>;
}

const PASS_THROUGH = ["PATH", "HOME", "DENO_DIR", "TMPDIR", "LANG", "NO_COLOR", "NPM_CONFIG_REGISTRY"];

export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function waitForPort(port: number, exited: { done: boolean }, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !exited.done) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
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
  #running = new Map<string, Running>();
  #starting = new Map<string, Promise<Running>>();

  constructor(private options: WorkerOptions) {}

  #closed = false;

  /** The origin (http://127.0.0.1:port) of the function's process, starting it if needed. */
  async origin(spec: FunctionSpec): Promise<string> {
    if (this.#closed) throw new Error("the gateway is stopping");
    const running = this.#running.get(spec.name);
    if (running) return running.origin;
    let starting = this.#starting.get(spec.name);
    if (!starting) {
      starting = this.#spawn(spec).finally(() => this.#starting.delete(spec.name));
      this.#starting.set(spec.name, starting);
    }
    return (await starting).origin;
  }

  async #spawn(spec: FunctionSpec): Promise<Running> {
    const port = freePort();
    const base: Record<string, string> = {};
    for (const name of PASS_THROUGH) {
      const value = Deno.env.get(name);
      if (value !== undefined) base[name] = value;
    }
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--no-prompt", "--no-lock", ...spec.resolutionArgs, spec.entrypoint],
      cwd: spec.dir,
      clearEnv: true,
      env: {
        ...base,
        ...(await readFunctionsDotEnv(this.options.supabaseDir)),
        ...this.options.env,
        DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`,
      },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const tail: string[] = [];
    const emit = (line: string) => {
      if (!/^Listening on /.test(line)) this.options.log(`[${spec.name}] ${line}`);
    };
    void pipeLines(child.stdout, emit, tail);
    void pipeLines(child.stderr, emit, tail);
    const state = { done: false };
    const exited = child.status.then((status) => {
      state.done = true;
      if (this.#running.get(spec.name)?.child === child) this.#running.delete(spec.name);
      this.options.log(
        `[${spec.name}] process exited (code ${status.code}${status.signal ? `, ${status.signal}` : ""})`,
      );
    });
    try {
      await waitForPort(port, state, 120_000);
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
