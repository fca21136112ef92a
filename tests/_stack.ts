// What the Deno tests know about the stack `deno task test` started for them (stack/test_runner.ts passes
// it through the environment). Run the tests through `npx -y deno@2 task test`, not bare `deno test`.
import postgres from "postgres";

function required(name: string): string {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`${name} is not set: run the tests with \`npx -y deno@2 task test\``);
  return value;
}

export const SUPABASE_URL = required("SUPABASE_URL");
export const SUPABASE_DB_URL = required("SUPABASE_DB_URL");
export const ANON_KEY = required("SUPABASE_ANON_KEY");
export const SERVICE_ROLE_KEY = required("SUPABASE_SERVICE_ROLE_KEY");
export const STACK_STATE_DIR = required("STACK_STATE_DIR");

/** A postgres.js client on the test stack's database, as the `postgres` superuser. */
export function db(options: postgres.Options<Record<string, never>> = {}) {
  return postgres(SUPABASE_DB_URL, { max: 4, onnotice: () => {}, ...options });
}

export function functionUrl(name: string): string {
  return `${SUPABASE_URL}/functions/v1/${name}`;
}

/** Polls until `check` returns a value other than undefined/null/false, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | null | undefined | false>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await check();
    if (value !== null && value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
