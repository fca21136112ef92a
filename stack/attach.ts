// For tests and benchmarks, which run in their own process beside the stack `deno task test` / `bench` started
// (stack/test_runner.ts passes its coordinates through STACK_* variables): the stack's signing key, users'
// access tokens, and extra gateways serving the real supabase/functions against the same database, with other
// settings (an LLM pointed at a fake server, limits, a broken model …).
import { join } from "node:path";
import { jwksOf, readSigningKey, signAccessToken, type SigningKey, type UserRow } from "./auth.ts";
import { functionProcessesFromEnv, platformEnv } from "./config.ts";
import { DependencyCache } from "./deps.ts";
import { freePort } from "./function_workers.ts";
import { type Gateway, startGateway } from "./gateway.ts";
import { type ModelRunner, startModelRunner } from "./model_runner.ts";
import { installRuntimeApi } from "./runtime/edge_runtime.ts";

function required(name: string): string {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`${name} is not set: run this through \`npx -y deno@2 task test\` (or bench)`);
  return value;
}

export interface AttachedStack {
  stateDir: string;
  dbPort: number;
  apiUrl: string;
  dbUrl: string;
  aiUrl: string;
  signingKey: SigningKey;
}

let attached: AttachedStack | null = null;

/** The stack this process runs beside. */
export function attachedStack(): AttachedStack {
  if (attached) return attached;
  const stateDir = required("STACK_STATE_DIR");
  attached = {
    stateDir,
    dbPort: Number(required("STACK_DB_PORT")),
    apiUrl: required("SUPABASE_URL"),
    dbUrl: required("SUPABASE_DB_URL"),
    aiUrl: required("STACK_AI_URL"),
    signingKey: readSigningKey(stateDir),
  };
  return attached;
}

/**
 * Gives this process the Edge Runtime's API on the attached stack's model runner, so the functions' shared modules
 * (embed() through Supabase.ai.Session) work here as in a function.
 */
export function useStackRuntime(): void {
  if (!(globalThis as { Supabase?: unknown }).Supabase) installRuntimeApi(attachedStack().aiUrl);
}

/** An access token for `userId`, signed with the stack's ES256 key as its auth server signs them. */
export async function accessToken(
  userId: string,
  options: { email?: string; anonymous?: boolean; claims?: Record<string, unknown>; expiresIn?: number } = {},
): Promise<string> {
  const stack = attachedStack();
  const user: Pick<UserRow, "id" | "email" | "is_anonymous" | "raw_app_meta_data" | "raw_user_meta_data"> = {
    id: userId,
    email: options.anonymous ? null : options.email ?? `${userId}@example.test`,
    is_anonymous: options.anonymous ?? false,
    raw_app_meta_data: null,
    raw_user_meta_data: null,
  };
  return await signAccessToken(stack.signingKey, `${stack.apiUrl}/auth/v1`, user, {
    extraClaims: options.claims,
    expiresIn: options.expiresIn,
  });
}

export interface ExtraGateway {
  url: string;
  logs: string[];
  /** How many processes the function has now. */
  processCount(name: string): number;
  stop(): Promise<void>;
}

const deps = new DependencyCache(() => {});

export interface ExtraGatewayOptions {
  /** Another model runner URL (see startExtraGatewayWithModel). */
  aiUrl?: string;
  supabaseDir?: string;
  /** Read <supabaseDir>/functions/.env as the dev stack does (default: no). */
  readDotEnv?: boolean;
  log?: (line: string) => void;
  /** At most this many processes per function (default 1; see GatewayOptions.processesPerFunction). */
  processesPerFunction?: number;
}

/**
 * A second gateway on the attached stack's database, model runner and signing key: hosted's environment pointed at
 * itself, plus `env`.
 */
export function startExtraGateway(
  env: Record<string, string> = {},
  options: ExtraGatewayOptions = {},
): ExtraGateway {
  return extraGateway(env, options, null);
}

/** The same with a model runner of its own, run with `modelEnv` (e.g. a missing model folder). */
export async function startExtraGatewayWithModel(
  env: Record<string, string>,
  modelEnv: Record<string, string>,
  options: ExtraGatewayOptions = {},
): Promise<ExtraGateway> {
  const runner = await startModelRunner(modelEnv, options.log ?? (() => {}));
  return extraGateway(env, { ...options, aiUrl: runner.url }, runner);
}

function extraGateway(env: Record<string, string>, options: ExtraGatewayOptions, runner: ModelRunner | null) {
  const stack = attachedStack();
  const logs: string[] = [];
  const log = (line: string) => {
    logs.push(line);
    if (logs.length > 2_000) logs.shift();
    options.log?.(line);
  };
  const port = freePort();
  const gateway: Gateway = startGateway({
    port,
    supabaseDir: options.supabaseDir,
    readDotEnv: options.readDotEnv,
    env: { ...platformEnv({ dbPort: stack.dbPort, apiPort: port }, jwksOf(stack.signingKey)), ...env },
    aiUrl: options.aiUrl ?? stack.aiUrl,
    signingKey: stack.signingKey,
    dbUrl: stack.dbUrl,
    tmpDir: join(stack.stateDir, `functions-tmp-${port}`),
    log,
    deps,
    processesPerFunction: options.processesPerFunction ?? functionProcessesFromEnv(),
  });
  return {
    url: gateway.url,
    logs,
    processCount: (name: string) => gateway.processCount(name),
    async stop() {
      await gateway.stop();
      await runner?.stop();
    },
  };
}
