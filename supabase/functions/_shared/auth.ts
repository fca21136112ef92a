// Who is calling: the role and user id from the caller's JWT (or the project's API keys).
//
// The gateway verifies JWTs before a function with verify_jwt = true runs (every function here but health).
// When SUPABASE_JWT_SECRET is in the environment (the local stack sets it; on hosted projects you may set it
// as a secret), the signature is verified here again, so a function deployed with --no-verify-jwt stays safe.
import { decodeJwt, jwtVerify } from "jose";
import { HttpError } from "./http.ts";

export type Role = "anon" | "authenticated" | "service_role";

export interface Caller {
  role: Role;
  /** The user's id (sub claim) when role is authenticated; null otherwise. */
  userId: string | null;
  /** The claims Postgres sees as request.jwt.claims (RLS reads auth.uid() from them). */
  claims: Record<string, unknown>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function bearerToken(req: Request): string | null {
  const header = req.headers.get("authorization");
  const bearer = header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  return bearer ?? req.headers.get("apikey");
}

function envKey(name: string): string | undefined {
  const value = Deno.env.get(name)?.trim();
  return value ? value : undefined;
}

/** The caller of this request; 401 when there is no usable credential. */
export async function callerOf(req: Request): Promise<Caller> {
  const token = bearerToken(req);
  if (!token) {
    throw new HttpError(
      401,
      "missing_authorization",
      "Send 'Authorization: Bearer <JWT>' (a user's JWT or the service key).",
    );
  }
  // New-style secret / publishable keys are not JWTs.
  if (token === envKey("SUPABASE_SECRET_KEY")) {
    return { role: "service_role", userId: null, claims: { role: "service_role" } };
  }
  if (token === envKey("SUPABASE_PUBLISHABLE_KEY")) {
    return { role: "anon", userId: null, claims: { role: "anon" } };
  }

  let claims: Record<string, unknown>;
  try {
    const secret = envKey("SUPABASE_JWT_SECRET");
    claims = secret
      ? (await jwtVerify(token, new TextEncoder().encode(secret), { algorithms: ["HS256"] })).payload
      : decodeJwt(token);
  } catch (error) {
    throw new HttpError(401, "invalid_jwt", `Invalid JWT: ${(error as Error).message}`);
  }
  const role = claims.role;
  if (role === "service_role" || role === "anon") return { role, userId: null, claims };
  if (role === "authenticated") {
    if (typeof claims.sub !== "string" || !UUID.test(claims.sub)) {
      throw new HttpError(401, "invalid_jwt", "Invalid JWT: an authenticated token needs a user id (sub).");
    }
    return { role, userId: claims.sub, claims };
  }
  throw new HttpError(403, "forbidden_role", `The role "${String(role)}" cannot call this function.`);
}

/** A signed-in user or the service role: the anon key alone cannot use (and spend) the models. */
export async function requireUserOrService(req: Request): Promise<Caller> {
  const caller = await callerOf(req);
  if (caller.role === "anon") {
    throw new HttpError(
      403,
      "sign_in_required",
      "This function needs a signed-in user's JWT (supabase.auth.signIn…) or the service key, not the anon key.",
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
