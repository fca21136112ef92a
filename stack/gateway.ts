// The local functions gateway: /functions/v1/<name> → that function's own process, with the platform's
// contract: JWTs checked (HS256, the CLI's local secret) unless verify_jwt = false, CORS preflight answered,
// JSON errors (404 unknown function, 401 bad token, 500 crashed function), one log line per request.
import { join } from "node:path";
import { jwtVerify } from "jose";
import {
  ANON_KEY,
  JWT_SECRET,
  PUBLISHABLE_KEY,
  SECRET_KEY,
  SERVICE_ROLE_KEY,
  SUPABASE_DIR,
} from "./config.ts";
import { FunctionWorkers } from "./function_workers.ts";
import { discoverFunctions, type FunctionSpec } from "./functions.ts";

export interface GatewayOptions {
  port: number;
  /** The project's supabase/ folder (config.toml + functions/); tests point it at fixture projects. */
  supabaseDir?: string;
  /** Environment for every function process, on top of <supabaseDir>/functions/.env. */
  env: Record<string, string>;
  log: (line: string) => void;
  /** Restart function processes when files under supabase/functions change (dev mode). */
  watch?: boolean;
}

export interface Gateway {
  url: string;
  stop(): Promise<void>;
}

const CORS_HEADERS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
  "access-control-allow-headers": "authorization, x-client-info, apikey, content-type, accept, x-region",
  "access-control-max-age": "86400",
};

/** The new-style local keys are not JWTs: the gateway stands them for the legacy JWT of the same role. */
const API_KEY_JWTS: Record<string, string> = { [PUBLISHABLE_KEY]: ANON_KEY, [SECRET_KEY]: SERVICE_ROLE_KEY };

const secret = new TextEncoder().encode(JWT_SECRET);

export function errorResponse(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status, headers: CORS_HEADERS });
}

/** The bearer token the function should see, or null: Authorization first, then an `apikey` header. */
export function callerToken(headers: Headers): string | null {
  const bearer = headers.get("authorization")?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim();
  const token = bearer ?? headers.get("apikey") ?? null;
  if (token === null) return null;
  return API_KEY_JWTS[token] ?? token;
}

async function checkJwt(token: string | null): Promise<Response | null> {
  if (token === null) {
    return errorResponse(
      401,
      "missing_authorization",
      "Missing authorization header: send 'Authorization: Bearer <JWT>'.",
    );
  }
  try {
    await jwtVerify(token, secret, { algorithms: ["HS256"] });
    return null;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return errorResponse(401, "invalid_jwt", `Invalid JWT: ${reason}`);
  }
}

function withCors(response: Response): Response {
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(CORS_HEADERS)) {
    if (!headers.has(name)) headers.set(name, value);
  }
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

export function startGateway(options: GatewayOptions): Gateway {
  const supabaseDir = options.supabaseDir ?? SUPABASE_DIR;
  const workers = new FunctionWorkers({ supabaseDir, env: options.env, log: options.log });
  let specs: Promise<Map<string, FunctionSpec>> | null = null;
  const functions = () =>
    specs ??= discoverFunctions(supabaseDir).finally(() => setTimeout(() => specs = null, 1000));

  async function forward(req: Request, spec: FunctionSpec, rest: string, token: string | null) {
    const url = new URL(req.url);
    const headers = new Headers(req.headers);
    // The function sees the caller's JWT as a bearer token, whichever way the caller sent its key.
    if (token !== null) headers.set("authorization", `Bearer ${token}`);
    // The Host the caller used (fetch sends the worker's own), never one the caller claims to be forwarded for.
    headers.set("x-forwarded-host", url.host);
    let origin: string;
    try {
      origin = await workers.origin(spec);
    } catch (error) {
      options.log((error as Error).message);
      return errorResponse(
        500,
        "function_boot_error",
        `Function '${spec.name}' failed to start; see the stack log.`,
      );
    }
    try {
      const response = await fetch(`${origin}/${spec.name}${rest}${url.search}`, {
        method: req.method,
        headers,
        body: req.body,
        redirect: "manual",
        // A caller who goes away closes the function's request too (its req.signal), as the platform does.
        signal: req.signal,
      });
      return withCors(response);
    } catch (error) {
      options.log(`[${spec.name}] request failed: ${(error as Error).message}`);
      return errorResponse(
        500,
        "function_crashed",
        `Function '${spec.name}' crashed while handling the request.`,
      );
    }
  }

  async function handle(req: Request): Promise<Response> {
    if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: CORS_HEADERS });
    const url = new URL(req.url);
    const match = url.pathname.match(/^\/functions\/v1\/([^/]+)(\/.*)?$/);
    if (!match) {
      return errorResponse(
        404,
        "not_found",
        `No route for ${url.pathname}: functions live at /functions/v1/<name>.`,
      );
    }
    const [, name, rest = ""] = match;
    const all = await functions();
    const spec = all.get(name);
    if (!spec) {
      const known = [...all.keys()].sort().join(", ") || "none";
      return errorResponse(
        404,
        "function_not_found",
        `Function '${name}' does not exist (functions: ${known}).`,
      );
    }
    const token = callerToken(req.headers);
    if (spec.verifyJwt) {
      const denied = await checkJwt(token);
      if (denied) return denied;
    }
    return await forward(req, spec, rest, token);
  }

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: options.port, onListen: () => {} },
    async (req) => {
      const started = performance.now();
      const response = await handle(req);
      const path = new URL(req.url).pathname;
      const ms = (performance.now() - started).toFixed(0);
      options.log(`${new Date().toISOString()} ${req.method} ${path} ${response.status} ${ms}ms`);
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
          void workers.stopAll();
        }, 200);
      }
    })().catch(() => {});
  }

  return {
    url: `http://127.0.0.1:${options.port}`,
    async stop() {
      // No new function process from here on (a late pg_net wake-up gets 500), then the running ones go,
      // which also ends their in-flight requests so that shutdown() does not wait on them.
      watcher?.close();
      await workers.close();
      await server.shutdown();
    },
  };
}
