// The local API gateway, with hosted Supabase's contract for what this project uses:
//
//   /functions/v1/<name>   that function's own process (./function_workers.ts). With verify_jwt = true the
//                          gateway first checks `Authorization: Bearer <JWT>` as hosted's does: a legacy HS256 JWT
//                          (the project's secret) or an asymmetric one (the project's signing key); never an API key
//                          (`Bearer sb_…` and an `apikey` header alone get 401). Headers reach the function as the
//                          caller sent them: the function verifies every credential itself.
//   /auth/v1/…             the local auth server (./auth.ts): JWKS, user lookup, sign-up and password sign-in.
//
// CORS preflight answered, JSON errors (404 unknown function, 401 bad token, 500 crashed function), one log line
// per request with its wall time and the CPU time the function's process spent on it (hosted allows about 2 s;
// requests in flight at once share their process's CPU time, see ./runtime/edge_runtime.ts). With
// `processesPerFunction` above 1 a busy function gets more processes, as hosted runs more isolates.
import { join } from "node:path";
import postgres from "postgres";
import { authHandler, type SigningKey, verifyStackToken } from "./auth.ts";
import { SUPABASE_DIR } from "./config.ts";
import { DependencyCache } from "./deps.ts";
import { FunctionWorkers, type Lease } from "./function_workers.ts";
import { discoverFunctions, type FunctionSpec } from "./functions.ts";
import { CPU_HEADER } from "./runtime/edge_runtime.ts";

export interface GatewayOptions {
  port: number;
  /** The project's supabase/ folder (config.toml + functions/); tests point it at fixture projects. */
  supabaseDir?: string;
  /** Every function's environment: hosted's variables (config.ts platformEnv) plus overrides. */
  env: Record<string, string>;
  /** Read supabase/functions/.env too (dev stack). */
  readDotEnv?: boolean;
  /** The model runner behind Supabase.ai.Session (./model_runner.ts). */
  aiUrl: string;
  /** The project's signing key (./auth.ts). */
  signingKey: SigningKey;
  /** The database the auth server reads users from. */
  dbUrl: string;
  /** Where function processes get their temp folders. */
  tmpDir: string;
  log: (line: string) => void;
  /** Restart function processes when files under supabase/functions change (dev mode). */
  watch?: boolean;
  /** Shared between gateways of one process (tests), so each function is cached once. */
  deps?: DependencyCache;
  /** At most this many processes per function, started as load needs them (default 1). */
  processesPerFunction?: number;
}

export interface Gateway {
  url: string;
  /** How many processes the function has now. */
  processCount(name: string): number;
  /** Caches every function's dependencies (the stack calls it before it reports ready). */
  prepare(): Promise<void>;
  stop(): Promise<void>;
}

/** Hosted's CPU time per request (docs "functions/limits"). */
export const CPU_LIMIT_MS = 2_000;

const CORS_HEADERS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
  "access-control-allow-headers": "authorization, x-client-info, apikey, content-type, accept, x-region",
  "access-control-max-age": "86400",
};

export function errorResponse(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status, headers: CORS_HEADERS });
}

/** hosted's verify_jwt: a verified JWT in `Authorization: Bearer`, nothing else. */
async function checkJwt(headers: Headers, key: SigningKey): Promise<Response | null> {
  const header = headers.get("authorization");
  if (header === null) {
    return errorResponse(
      401,
      "missing_authorization",
      "Missing authorization header: send 'Authorization: Bearer <JWT>' (API keys such as sb_… are not JWTs; " +
        "functions that accept them run with verify_jwt = false).",
    );
  }
  const token = header.match(/^Bearer ([^\s]+)$/)?.[1];
  if (!token) {
    return errorResponse(401, "invalid_authorization", "The Authorization header must be 'Bearer <JWT>'.");
  }
  if (token.startsWith("sb_")) {
    return errorResponse(401, "invalid_jwt", "Invalid JWT: an API key (sb_…) is not a JWT.");
  }
  try {
    await verifyStackToken(key, token);
    return null;
  } catch (error) {
    return errorResponse(401, "invalid_jwt", `Invalid JWT: ${(error as Error).message}`);
  }
}

/** The function's response with CORS headers, without the runtime's CPU_HEADER (the gateway's alone). */
function withCors(response: Response): Response {
  const headers = new Headers(response.headers);
  headers.delete(CPU_HEADER);
  for (const [name, value] of Object.entries(CORS_HEADERS)) {
    if (!headers.has(name)) headers.set(name, value);
  }
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

export function startGateway(options: GatewayOptions): Gateway {
  const supabaseDir = options.supabaseDir ?? SUPABASE_DIR;
  const deps = options.deps ?? new DependencyCache(options.log);
  const workers = new FunctionWorkers({
    supabaseDir,
    env: options.env,
    readDotEnv: options.readDotEnv ?? false,
    aiUrl: options.aiUrl,
    tmpDir: options.tmpDir,
    deps,
    log: options.log,
    processes: options.processesPerFunction,
  });
  let authDb: postgres.Sql | null = null;
  const auth = authHandler({
    key: options.signingKey,
    issuer: `http://127.0.0.1:${options.port}/auth/v1`,
    sql: () => authDb ??= postgres(options.dbUrl, { max: 2, onnotice: () => {}, idle_timeout: 20 }),
  });
  let specs: Promise<Map<string, FunctionSpec>> | null = null;
  const functions = () =>
    specs ??= discoverFunctions(supabaseDir).finally(() => setTimeout(() => specs = null, 1000));

  async function forward(
    req: Request,
    spec: FunctionSpec,
    rest: string,
  ): Promise<{ response: Response; cpu: number | null }> {
    const url = new URL(req.url);
    // The Host the caller used (fetch sends the worker's own), never one the caller claims to be forwarded for.
    const headers = new Headers(req.headers);
    headers.set("x-forwarded-host", url.host);
    let lease: Lease;
    try {
      lease = await workers.process(spec);
    } catch (error) {
      options.log((error as Error).message);
      return {
        response: errorResponse(
          500,
          "function_boot_error",
          `Function '${spec.name}' failed to start; see the stack log.`,
        ),
        cpu: null,
      };
    }
    try {
      const response = await fetch(`${lease.origin}/${spec.name}${rest}${url.search}`, {
        method: req.method,
        headers,
        body: req.body,
        redirect: "manual",
        // A caller who goes away closes the function's request too (its req.signal), as the platform does.
        signal: req.signal,
      });
      const us = Number(response.headers.get(CPU_HEADER));
      const cpu = response.headers.has(CPU_HEADER) && Number.isFinite(us) ? us / 1000 : null;
      return { response: withCors(response), cpu };
    } catch (error) {
      options.log(`[${spec.name}] request failed: ${(error as Error).message}`);
      return {
        response: errorResponse(
          500,
          "function_crashed",
          `Function '${spec.name}' crashed while handling the request.`,
        ),
        cpu: null,
      };
    } finally {
      lease.release();
    }
  }

  async function handle(req: Request): Promise<{ response: Response; cpu?: number | null }> {
    if (req.method === "OPTIONS") {
      return { response: new Response(null, { status: 204, headers: CORS_HEADERS }) };
    }
    const url = new URL(req.url);
    const authPath = url.pathname.match(/^\/auth\/v1(\/.*)$/)?.[1];
    if (authPath !== undefined) return { response: withCors(await auth(req, authPath)) };
    const match = url.pathname.match(/^\/functions\/v1\/([^/]+)(\/.*)?$/);
    if (!match) {
      return {
        response: errorResponse(
          404,
          "not_found",
          `No route for ${url.pathname}: functions live at /functions/v1/<name>.`,
        ),
      };
    }
    const [, name, rest = ""] = match;
    const all = await functions();
    const spec = all.get(name);
    if (!spec) {
      const known = [...all.keys()].sort().join(", ") || "none";
      return {
        response: errorResponse(
          404,
          "function_not_found",
          `Function '${name}' does not exist (functions: ${known}).`,
        ),
      };
    }
    if (spec.verifyJwt) {
      const denied = await checkJwt(req.headers, options.signingKey);
      if (denied) return { response: denied };
    }
    return await forward(req, spec, rest);
  }

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: options.port, onListen: () => {} },
    async (req) => {
      const started = performance.now();
      const { response, cpu } = await handle(req);
      const path = new URL(req.url).pathname;
      const ms = (performance.now() - started).toFixed(0);
      const cpuText = cpu === undefined || cpu === null
        ? ""
        : ` cpu ${cpu.toFixed(0)}ms${
          cpu > CPU_LIMIT_MS ? ` (over hosted's ${CPU_LIMIT_MS / 1000} s CPU limit per request)` : ""
        }`;
      options.log(`${new Date().toISOString()} ${req.method} ${path} ${response.status} ${ms}ms${cpuText}`);
      return response;
    },
  );

  let watcher: Deno.FsWatcher | null = null;
  if (options.watch) {
    watcher = Deno.watchFs(join(supabaseDir, "functions"), { recursive: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    (async () => {
      for await (const _event of watcher!) {
        clearTimeout(timer);
        timer = setTimeout(() => {
          options.log("functions changed: their processes restart on the next request");
          deps.invalidate();
          void workers.stopAll();
        }, 200);
      }
    })().catch(() => {});
  }

  return {
    url: `http://127.0.0.1:${options.port}`,
    processCount: (name) => workers.processCount(name),
    async prepare() {
      for (const spec of (await functions()).values()) await deps.ensure(spec);
    },
    async stop() {
      // No new function process from here on (a late pg_net wake-up gets 500), then the running ones go,
      // which also ends their in-flight requests so that shutdown() does not wait on them.
      watcher?.close();
      await workers.close();
      await server.shutdown();
      await authDb?.end();
    },
  };
}
