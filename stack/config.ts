// Names, ports, paths and the well-known local keys of the Docker-free local stack.
// The keys are the Supabase CLI's own local defaults, so tools written for `supabase start` work unchanged.
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
export const SUPABASE_DIR = join(ROOT, "supabase");
export const FUNCTIONS_DIR = join(SUPABASE_DIR, "functions");
export const STATE_ROOT = join(ROOT, ".stack");

/** The Supabase CLI release this project is tested with (npm package `supabase`). */
export const SUPABASE_CLI = "supabase@3.1.0";

export const PG_MAJOR = 15;
export const PG_BIN = `/usr/lib/postgresql/${PG_MAJOR}/bin`;

/** The Supabase CLI's default local JWT secret (`supabase status` prints it). */
export const JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";
/** HS256 JWTs signed with JWT_SECRET: the CLI's well-known local anon and service_role keys. */
export const ANON_KEY =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0";
export const SERVICE_ROLE_KEY =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU";
/** The CLI's new-style local keys: not JWTs, sent by supabase-js in the `apikey` header. */
export const PUBLISHABLE_KEY = "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH";
export const SECRET_KEY = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";

export interface StackConfig {
  /** Folder for this stack's state: Postgres data, sockets, logs, pid file. */
  stateDir: string;
  dbPort: number;
  apiPort: number;
  /** Extra environment for every function (the tests' settings); wins over supabase/functions/.env. */
  functionsEnv: Record<string, string>;
  /**
   * Whether function processes read supabase/functions/.env (the developer's settings). The dev stack does;
   * test and benchmark stacks do not, so that they see only what the tests set.
   */
  readDotEnv: boolean;
  /** Environment of the model runner: EMBEDDING_MODEL, EMBEDDING_MODEL_DIR … (the test model in tests). */
  modelEnv: Record<string, string>;
  /**
   * The PostgreSQL installation's bin folder (default PG_BIN). Its extensions are the ones beside it, so a
   * private installation with the real pg_net (see README, "The local stack, precisely") can be chosen here;
   * `deno task test` takes it from LOCAL_STACK_PG_BIN.
   */
  pgBin?: string;
  /**
   * At most this many processes per function (default 1): hosted runs many isolates of one function under
   * load, and a busy function here gets more processes, started as requests find the running ones busy.
   * `deno task start|test|bench` take it from LOCAL_STACK_FUNCTION_PROCESSES (e.g. the number of cores).
   */
  functionProcesses?: number;
}

/** LOCAL_STACK_FUNCTION_PROCESSES as a count of processes per function (undefined when unset). */
export function functionProcessesFromEnv(): number | undefined {
  const raw = Deno.env.get("LOCAL_STACK_FUNCTION_PROCESSES")?.trim();
  if (!raw) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 64) {
    throw new Error(`LOCAL_STACK_FUNCTION_PROCESSES must be an integer from 1 to 64, got "${raw}"`);
  }
  return value;
}

export const DEV_STACK: StackConfig = {
  stateDir: join(STATE_ROOT, "dev"),
  dbPort: 54322,
  apiPort: 54321,
  functionsEnv: {},
  readDotEnv: true,
  modelEnv: {},
};

export function dbUrl(config: Pick<StackConfig, "dbPort">): string {
  return `postgresql://postgres:postgres@127.0.0.1:${config.dbPort}/postgres`;
}

export function apiUrl(config: Pick<StackConfig, "apiPort">): string {
  return `http://127.0.0.1:${config.apiPort}`;
}

/**
 * The variables hosted Supabase sets for every function (../shared/FACTS.md, "Environment on hosted"), besides
 * SB_EXECUTION_ID; hosted reserves the SUPABASE_ prefix, so a function can rely on no other SUPABASE_ name.
 */
export const HOSTED_ENV = [
  "SUPABASE_URL",
  "SUPABASE_DB_URL",
  "SUPABASE_ANON_KEY",
  "SUPABASE_SERVICE_ROLE_KEY",
  "SUPABASE_PUBLISHABLE_KEYS",
  "SUPABASE_SECRET_KEYS",
  "SUPABASE_JWKS",
] as const;

/**
 * Exactly the environment hosted Supabase gives every function, pointed at this stack (../shared/FACTS.md,
 * "Environment on hosted"): the URL, the direct database URL, the legacy JWT keys, the new-style keys as JSON
 * objects, and the JWKS of the project's signing keys. No JWT secret: hosted never provides one.
 */
export function platformEnv(
  config: Pick<StackConfig, "dbPort" | "apiPort">,
  jwks: { keys: unknown[] },
): Record<(typeof HOSTED_ENV)[number], string> {
  return {
    SUPABASE_URL: apiUrl(config),
    SUPABASE_DB_URL: dbUrl(config),
    SUPABASE_ANON_KEY: ANON_KEY,
    SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY,
    SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: PUBLISHABLE_KEY }),
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET_KEY }),
    SUPABASE_JWKS: JSON.stringify(jwks),
  };
}

/** Variable names hosted reserves: `supabase secrets set` skips them, and so does the stack's .env reader. */
export const RESERVED_ENV_PREFIX = "SUPABASE_";
