// What Supabase's Edge Runtime gives a user worker, for the local stack's function processes (loaded by
// ./boot.ts before the function's own module). It is the only seam between a function and the stack:
//
//   globalThis.Supabase.ai.Session  the built-in embedding model: `new Supabase.ai.Session("gte-small")`,
//                                   `await session.run(text, { mean_pool: true, normalize: true })` → number[]
//                                   (one string per call, as hosted). Calls made in the same tick travel to the
//                                   stack's model runner (stack/model_runner.ts) as one batch.
//   globalThis.EdgeRuntime          `waitUntil(promise)`: background work after the response.
//   Deno.serve                      bound to the port the gateway chose, whatever the function asks for.
//   CPU time per request            the process's CPU time (every thread) while the request was in flight,
//                                   shared equally among the requests in flight at each moment, in the
//                                   response header CPU_HEADER for the gateway's log (the gateway removes it).
//   synchronous file reads          allowed only while the module initialises, as on hosted: afterwards
//                                   Deno.readFileSync / readTextFileSync / statSync / lstatSync / readDirSync /
//                                   openSync / realPathSync / readLinkSync and node:fs's sync readers throw.
//
// The rest of the rules are the process's own (stack/function_workers.ts): no FFI, no subprocesses, reads only
// inside supabase/functions and the temp folder, writes only to the temp folder, a 256 MB heap, hosted's
// environment variables. One gap: a module that binds node:fs's sync readers by named import
// (`import { readFileSync } from "node:fs"`) is not caught here (ESM bindings cannot be patched); packages that
// use `require("fs")` or the default export are.
//
// This file and ./boot.ts import nothing but each other and node: built-ins, so that they resolve under any
// function's own deno.json.
import nodeFs from "node:fs";
import process from "node:process";

/** The model name hosted's built-in session accepts (and the only one the local runner serves). */
const BUILT_IN_MODEL = "gte-small";

interface SessionRunOptions {
  mean_pool?: boolean;
  normalize?: boolean;
  [other: string]: unknown;
}

interface Pending {
  input: string;
  resolve: (vector: number[]) => void;
  reject: (error: Error) => void;
}

/** Coalesces the run() calls of one tick into one request to the model runner. */
class EmbeddingBatcher {
  #queues = new Map<string, Pending[]>();
  #scheduled = false;

  constructor(private url: string) {}

  enqueue(input: string, options: { mean_pool: boolean; normalize: boolean }): Promise<number[]> {
    const key = JSON.stringify(options);
    return new Promise((resolve, reject) => {
      const queue = this.#queues.get(key) ?? [];
      queue.push({ input, resolve, reject });
      this.#queues.set(key, queue);
      if (!this.#scheduled) {
        this.#scheduled = true;
        setTimeout(() => this.#flush(), 0);
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const queues = [...this.#queues];
    this.#queues.clear();
    for (const [key, pending] of queues) void this.#send(JSON.parse(key), pending);
  }

  async #send(options: { mean_pool: boolean; normalize: boolean }, pending: Pending[]): Promise<void> {
    try {
      const response = await fetch(`${this.url}/embed`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/octet-stream" },
        body: JSON.stringify({ model: BUILT_IN_MODEL, inputs: pending.map((p) => p.input), ...options }),
      });
      if (!response.ok) {
        const body = await response.json().catch(() => ({})) as { error?: string };
        throw new Error(body.error ?? `the model runner answered ${response.status}`);
      }
      // Little-endian float32 vectors one after another (what the hosted session's numbers are, too).
      const dims = Number(response.headers.get("x-dims"));
      const packed = new Float32Array(await response.arrayBuffer());
      if (!(dims > 0) || packed.length !== dims * pending.length) {
        throw new Error(`the model runner answered ${packed.length} numbers for ${pending.length} text(s)`);
      }
      pending.forEach((p, i) => p.resolve(Array.from(packed.subarray(i * dims, (i + 1) * dims))));
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      for (const p of pending) p.reject(e);
    }
  }
}

function makeSessionClass(batcher: EmbeddingBatcher) {
  return class Session {
    readonly model: string;
    constructor(model: string) {
      if (model !== BUILT_IN_MODEL) {
        throw new Error(
          `Supabase.ai.Session("${model}"): the local stack serves the built-in "${BUILT_IN_MODEL}" model only ` +
            "(LLM sessions need AI_INFERENCE_API_HOST on hosted; call your LLM provider instead).",
        );
      }
      this.model = model;
    }

    run(input: unknown, options: SessionRunOptions = {}): Promise<number[]> {
      if (typeof input !== "string") {
        return Promise.reject(new TypeError("Supabase.ai.Session.run: the input must be a string"));
      }
      const meanPool = options.mean_pool ?? true;
      const normalize = options.normalize ?? true;
      if (!meanPool) {
        return Promise.reject(
          new Error("Supabase.ai.Session.run: the local stack supports mean_pool: true only"),
        );
      }
      return batcher.enqueue(input, { mean_pool: meanPool, normalize });
    }
  };
}

/** EdgeRuntime.waitUntil: the process lives on anyway; a rejected background promise is logged. */
function makeEdgeRuntime() {
  return {
    waitUntil(promise: Promise<unknown>): void {
      Promise.resolve(promise).catch((error) =>
        console.error("EdgeRuntime.waitUntil: a task failed:", error)
      );
    },
  };
}

type AnyFunction = (...args: never[]) => unknown;

/** Makes the named functions of `target` throw once `initialising()` is false. */
function guardSync(
  target: Record<string, unknown>,
  names: string[],
  label: string,
  initialising: () => boolean,
) {
  for (const name of names) {
    const original = target[name];
    if (typeof original !== "function") continue;
    const guarded = function (this: unknown, ...args: unknown[]) {
      if (!initialising()) {
        throw new Error(
          `${label}.${name}(${typeof args[0] === "string" ? JSON.stringify(args[0]) : ""}) is not allowed ` +
            "after the function's module has initialised (Supabase's Edge Runtime permits synchronous file " +
            "reads only during initialisation): read the file at the top level of the module, or use the " +
            "asynchronous API.",
        );
      }
      return (original as AnyFunction).apply(this, args as never[]);
    };
    try {
      target[name] = guarded;
    } catch {
      Object.defineProperty(target, name, { value: guarded, configurable: true, writable: true });
    }
  }
}

/** The response header that carries a request's CPU time (µs) to the gateway, which removes it. */
export const CPU_HEADER = "x-local-stack-cpu-us";

/**
 * CPU time per request from process.cpuUsage() (getrusage: user + system of every thread, one syscall):
 * between two events (a request starting or ending) the CPU used is shared equally among the requests in
 * flight, so the shares of concurrent requests add up to what the process used while serving them.
 */
class CpuShares {
  #last = 0;
  #inFlight = new Set<{ us: number }>();

  #tick(): void {
    const usage = process.cpuUsage();
    const now = usage.user + usage.system;
    const used = now - this.#last;
    this.#last = now;
    for (const request of this.#inFlight) request.us += used / this.#inFlight.size;
  }

  start(): { us: number } {
    this.#tick();
    const request = { us: 0 };
    this.#inFlight.add(request);
    return request;
  }

  end(request: { us: number }): number {
    this.#tick();
    this.#inFlight.delete(request);
    return Math.round(request.us);
  }
}

/** `handler` with each response carrying its CPU time in CPU_HEADER. */
function withCpuTime(handler: Deno.ServeHandler): Deno.ServeHandler {
  const shares = new CpuShares();
  return async (req, info) => {
    const request = shares.start();
    let response: Response;
    try {
      response = await handler(req, info);
    } catch (error) {
      shares.end(request);
      throw error;
    }
    const us = shares.end(request);
    if (response.status === 101) return response; // a WebSocket upgrade must stay the object it is
    try {
      // A response the function made has headers of its own to add to; its body is then sent as it was made
      // (a string or bytes in one write, not as a stream).
      response.headers.set(CPU_HEADER, String(us));
      return response;
    } catch {
      // Immutable headers (a response passed on from fetch()): a copy carries the header.
      const headers = new Headers(response.headers);
      headers.set(CPU_HEADER, String(us));
      return new Response(response.body, {
        status: response.status,
        statusText: response.statusText,
        headers,
      });
    }
  };
}

export interface EdgeRuntimeOptions {
  /** The port the gateway forwards this function's requests to. */
  port: number;
  /** The stack's model runner (stack/model_runner.ts). */
  aiUrl: string;
}

/**
 * Only the runtime's API (Supabase.ai.Session on the model runner at `aiUrl`, EdgeRuntime.waitUntil), without
 * the rules: for tests and benchmarks that call the functions' shared modules in their own process.
 */
export function installRuntimeApi(aiUrl: string): void {
  const g = globalThis as Record<string, unknown>;
  g.Supabase = Object.freeze({
    ai: Object.freeze({ Session: makeSessionClass(new EmbeddingBatcher(aiUrl)) }),
  });
  g.EdgeRuntime = Object.freeze(makeEdgeRuntime());
}

/** Installs the runtime API and rules; call initialised() once the function's module has been evaluated. */
export function installEdgeRuntime(options: EdgeRuntimeOptions): { initialised(): void } {
  let initialising = true;
  const during = () => initialising;
  installRuntimeApi(options.aiUrl);

  guardSync(
    Deno as unknown as Record<string, unknown>,
    [
      "readFileSync",
      "readTextFileSync",
      "statSync",
      "lstatSync",
      "readDirSync",
      "openSync",
      "realPathSync",
      "readLinkSync",
    ],
    "Deno",
    during,
  );
  guardSync(
    nodeFs as unknown as Record<string, unknown>,
    [
      "readFileSync",
      "statSync",
      "lstatSync",
      "readdirSync",
      "openSync",
      "readSync",
      "realpathSync",
      "existsSync",
      "accessSync",
    ],
    "node:fs",
    during,
  );

  const serve = Deno.serve;
  const patched = (...args: unknown[]) => {
    let handler: Deno.ServeHandler | undefined;
    let opts: Record<string, unknown> = {};
    if (typeof args[0] === "function") handler = args[0] as Deno.ServeHandler;
    else {
      opts = { ...(args[0] as Record<string, unknown>) };
      handler = (typeof args[1] === "function" ? args[1] : opts.handler) as Deno.ServeHandler | undefined;
    }
    if (!handler) throw new TypeError("Deno.serve: no handler given");
    delete opts.handler;
    delete opts.path;
    delete opts.cert;
    delete opts.key;
    return serve(
      { ...opts, hostname: "127.0.0.1", port: options.port, onListen: () => {} },
      withCpuTime(handler),
    );
  };
  (Deno as unknown as { serve: unknown }).serve = patched;

  return {
    initialised() {
      initialising = false;
    },
  };
}
