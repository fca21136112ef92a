// Who is calling — verified here, in every function, whatever the platform's verify_jwt says, failing closed.
// Only what hosted Supabase gives a function is used (../shared/FACTS.md, "Supabase's hosted Edge Runtime"):
//
//   Authorization: Bearer <credential>   read first; anything else in that header is a 401
//     - the legacy anon / service_role keys (SUPABASE_ANON_KEY, SUPABASE_SERVICE_ROLE_KEY): constant-time
//       comparison, no secret needed
//     - a user's access token: supabase-js's `auth.getClaims()` — asymmetric tokens (ES256/RS256) checked
//       against the project's JWKS (SUPABASE_JWKS, else <SUPABASE_URL>/auth/v1/.well-known/jwks.json, cached),
//       legacy HS256 tokens by asking the project's auth server; `exp` required; the algorithm pinned to the
//       signing key's (a token whose header disagrees with its key is refused); `alg: none` never accepted
//     - `sb_…` API keys are not bearer tokens (hosted's gateway refuses them there): 401
//   apikey: <key>                        read only when there is no Authorization header
//     - new-style keys compared in constant time with every value of SUPABASE_SECRET_KEYS (service role) and
//       SUPABASE_PUBLISHABLE_KEYS (anon); the legacy anon / service_role keys likewise; nothing else
//
// Anonymous sign-ins (`is_anonymous: true`) are users without an account: they count as anon for everything that
// spends model time (requireUserOrService refuses them).
import { createHash, timingSafeEqual } from "node:crypto";
import { AuthClient } from "@supabase/auth-js";
import { HttpError } from "./http.ts";

export type Role = "anon" | "authenticated" | "service_role";

export interface Caller {
  role: Role;
  /** The user's id (sub claim) when role is authenticated; null otherwise. */
  userId: string | null;
  /** The claims Postgres sees as request.jwt.claims (RLS reads auth.uid() from them). */
  claims: Record<string, unknown>;
  /** An anonymous sign-in: a user row, but no account. */
  anonymous: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ASYMMETRIC: Record<string, string> = { ES256: "EC", RS256: "RSA" };
const ACCEPTED_ALGS = new Set(["ES256", "RS256", "HS256"]);

function env(name: string): string | undefined {
  const value = Deno.env.get(name)?.trim();
  return value ? value : undefined;
}

/** The values of a hosted JSON key map such as SUPABASE_SECRET_KEYS = {"default": "sb_secret_…"}. */
function keyMapValues(name: string): string[] {
  const raw = env(name);
  if (!raw) return [];
  try {
    const parsed = JSON.parse(raw) as unknown;
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
      return Object.values(parsed).filter((v): v is string => typeof v === "string" && v.length > 0);
    }
  } catch { /* not JSON: no keys */ }
  return [];
}

interface Jwk {
  kid?: string;
  kty?: string;
  alg?: string;
  [field: string]: unknown;
}

/** SUPABASE_JWKS as hosted provides it: {"keys": [...]} or a bare array; null when absent or unreadable. */
function projectJwks(): { keys: Jwk[] } | null {
  const raw = env("SUPABASE_JWKS");
  if (!raw) return null;
  try {
    const parsed = JSON.parse(raw) as unknown;
    const keys = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown })?.keys;
    return Array.isArray(keys) ? { keys: keys as Jwk[] } : null;
  } catch {
    return null;
  }
}

const sha256 = (text: string) => createHash("sha256").update(text).digest();
/** The project's keys' digests, computed once (the keys come from the environment, which does not change). */
const keyDigests = new Map<string, Uint8Array>();

/**
 * Whether `token` is one of `keys`, in constant time: SHA-256 digests (equal length whatever the input) are
 * compared whole, with every key compared.
 */
function matchesAny(token: string, keys: (string | undefined)[]): boolean {
  const digest = sha256(token);
  let found = false;
  for (const key of keys) {
    if (!key) continue;
    let expected = keyDigests.get(key);
    if (!expected) keyDigests.set(key, expected = sha256(key));
    if (timingSafeEqual(digest, expected)) found = true;
  }
  return found;
}

function unauthorized(code: string, message: string): HttpError {
  return new HttpError(401, code, message);
}

const SERVICE: Caller = {
  role: "service_role",
  userId: null,
  claims: { role: "service_role" },
  anonymous: false,
};
const ANON: Caller = { role: "anon", userId: null, claims: { role: "anon" }, anonymous: false };

let client: InstanceType<typeof AuthClient> | null = null;

/** supabase-js's auth client for this project (one per isolate; no session, no storage, no timers). */
function authClient(): InstanceType<typeof AuthClient> {
  if (client) return client;
  const url = env("SUPABASE_URL");
  if (!url) throw new HttpError(503, "auth_not_configured", "SUPABASE_URL is not set for this function.");
  const apikey = keyMapValues("SUPABASE_PUBLISHABLE_KEYS")[0] ?? env("SUPABASE_ANON_KEY");
  client = new AuthClient({
    url: `${url.replace(/\/+$/, "")}/auth/v1`,
    headers: apikey ? { apikey } : {},
    autoRefreshToken: false,
    persistSession: false,
    detectSessionInUrl: false,
  });
  return client;
}

function decodeHeader(token: string): { alg?: unknown; kid?: unknown } {
  const segment = token.split(".")[0] ?? "";
  try {
    const base64 = segment.replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(base64 + "=".repeat((4 - base64.length % 4) % 4)));
  } catch {
    throw unauthorized("invalid_jwt", "Invalid JWT: the token is not a JWT.");
  }
}

/**
 * Asymmetric tokens (ES256/RS256) this isolate verified, by the whole token: the same bytes checked against the
 * same keys give the same answer until the token expires, so a client's next request skips the signature check
 * (an ECDSA verify was most of a cached fix answer's CPU). At most VERIFIED_MAX tokens, each for at most
 * VERIFIED_TTL_MS and never past its `exp`. Legacy HS256 tokens are never kept: the auth server checks those,
 * the user's session included, on every request.
 */
const verifiedTokens = new Map<string, { caller: Caller; until: number }>();
const VERIFIED_MAX = 1_000;
const VERIFIED_TTL_MS = 60_000;

function rememberVerified(token: string, caller: Caller): void {
  const exp = typeof caller.claims.exp === "number" ? caller.claims.exp * 1000 : 0;
  const until = Math.min(Date.now() + VERIFIED_TTL_MS, exp);
  if (until <= Date.now()) return;
  verifiedTokens.delete(token);
  verifiedTokens.set(token, { caller: { ...caller, claims: Object.freeze({ ...caller.claims }) }, until });
  while (verifiedTokens.size > VERIFIED_MAX) verifiedTokens.delete(verifiedTokens.keys().next().value!);
}

/** A user's access token, verified by supabase-js's getClaims() with the algorithm pinned to its key. */
async function verifyUserToken(token: string): Promise<Caller> {
  const known = verifiedTokens.get(token);
  if (known && Date.now() < known.until) return { ...known.caller };
  if (known) verifiedTokens.delete(token);
  const caller = await verifyUserTokenNow(token);
  if (caller.alg !== "HS256") rememberVerified(token, caller.caller);
  return caller.caller;
}

async function verifyUserTokenNow(token: string): Promise<{ caller: Caller; alg: string }> {
  if (token.split(".").length !== 3) {
    throw unauthorized("invalid_jwt", "Invalid JWT: the token is not a JWT.");
  }
  const header = decodeHeader(token);
  const alg = typeof header.alg === "string" ? header.alg : "none";
  if (!ACCEPTED_ALGS.has(alg)) {
    throw unauthorized("invalid_jwt", `Invalid JWT: the algorithm "${alg}" is not accepted.`);
  }
  const jwks = projectJwks();
  if (alg !== "HS256") {
    const key = typeof header.kid === "string" ? jwks?.keys.find((k) => k.kid === header.kid) : undefined;
    if (key && (key.kty !== ASYMMETRIC[alg] || (key.alg !== undefined && key.alg !== alg))) {
      throw unauthorized("invalid_jwt", `Invalid JWT: the signing key ${header.kid} does not use ${alg}.`);
    }
  }
  let result;
  try {
    result = await authClient().getClaims(token, jwks ? { jwks: jwks as { keys: never[] } } : {});
  } catch (error) {
    throw unauthorized("invalid_jwt", `Invalid JWT: ${(error as Error).message}`);
  }
  if (result.error || !result.data) {
    throw unauthorized(
      "invalid_jwt",
      `Invalid JWT: ${result.error?.message ?? "the token could not be verified"}`,
    );
  }
  const claims = result.data.claims as Record<string, unknown>;
  const role = claims.role;
  if (role === "authenticated") {
    if (typeof claims.sub !== "string" || !UUID.test(claims.sub)) {
      throw unauthorized("invalid_jwt", "Invalid JWT: an authenticated token needs a user id (sub).");
    }
    return { caller: { role, userId: claims.sub, claims, anonymous: claims.is_anonymous === true }, alg };
  }
  if (role === "anon") return { caller: { ...ANON, claims }, alg };
  if (role === "service_role" && alg !== "HS256") return { caller: { ...SERVICE, claims }, alg };
  throw new HttpError(403, "forbidden_role", `The role "${String(role)}" cannot call this function.`);
}

/** The caller of this request; 401 when there is no credential or it does not verify. */
export async function callerOf(req: Request): Promise<Caller> {
  const authorization = req.headers.get("authorization");
  const serviceKey = env("SUPABASE_SERVICE_ROLE_KEY");
  const anonKey = env("SUPABASE_ANON_KEY");
  if (authorization !== null) {
    const token = authorization.match(/^Bearer ([A-Za-z0-9._~+/=-]+)$/)?.[1];
    if (!token) {
      throw unauthorized("invalid_authorization", "The Authorization header must be 'Bearer <token>'.");
    }
    if (token.startsWith("sb_")) {
      throw unauthorized(
        "invalid_authorization",
        "API keys (sb_…) are not bearer tokens: send them in the 'apikey' header.",
      );
    }
    if (matchesAny(token, [serviceKey])) return SERVICE;
    if (matchesAny(token, [anonKey])) return ANON;
    return await verifyUserToken(token);
  }
  const apikey = req.headers.get("apikey");
  if (apikey === null) {
    throw unauthorized(
      "missing_authorization",
      "Send 'Authorization: Bearer <JWT>' (a user's access token or the service_role key) or an 'apikey' header.",
    );
  }
  if (matchesAny(apikey, [...keyMapValues("SUPABASE_SECRET_KEYS"), serviceKey])) return SERVICE;
  if (matchesAny(apikey, [...keyMapValues("SUPABASE_PUBLISHABLE_KEYS"), anonKey])) return ANON;
  throw unauthorized("invalid_api_key", "The apikey is not one of this project's API keys.");
}

/**
 * Headers that authenticate this project's service role to its own functions (a worker waking itself): the new
 * secret key in `apikey` when hosted provides one, else the legacy service_role key as a bearer token.
 */
export function serviceRoleHeaders(): Record<string, string> {
  const secret = keyMapValues("SUPABASE_SECRET_KEYS")[0];
  if (secret) return { apikey: secret };
  const legacy = env("SUPABASE_SERVICE_ROLE_KEY");
  if (!legacy) throw new Error("neither SUPABASE_SECRET_KEYS nor SUPABASE_SERVICE_ROLE_KEY is set");
  return { authorization: `Bearer ${legacy}`, apikey: legacy };
}

/** A signed-in user or the service role: the anon key, or an anonymous sign-in, cannot spend model time. */
export async function requireUserOrService(req: Request): Promise<Caller> {
  const caller = await callerOf(req);
  if (caller.role === "anon" || caller.anonymous) {
    throw new HttpError(
      403,
      "sign_in_required",
      "This function needs a signed-in user's access token or the service key, not the anon key or an " +
        "anonymous sign-in.",
    );
  }
  return caller;
}

/** Workers called by pg_cron: the service role only. */
export async function requireServiceRole(req: Request): Promise<Caller> {
  const caller = await callerOf(req);
  if (caller.role !== "service_role") {
    throw new HttpError(403, "service_role_required", "Only the service role may call this worker.");
  }
  return caller;
}
