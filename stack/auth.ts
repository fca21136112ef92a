// The local stack's auth server: what a current Supabase project's Auth (GoTrue) gives this project, on the
// gateway's port under /auth/v1.
//
//   - An asymmetric signing key (ES256), generated once per stack and kept in <stateDir>/auth/signing_key.json;
//     its public half is served at /auth/v1/.well-known/jwks.json and given to the functions as SUPABASE_JWKS.
//   - The legacy symmetric secret (the CLI's well-known JWT secret) still signs the legacy anon/service_role keys
//     and is accepted for legacy user tokens — never given to a function.
//   - GET  /auth/v1/user                          the user of a bearer token (how a function checks a legacy
//                                                 HS256 user token, as supabase-js `auth.getClaims()` does)
//   - POST /auth/v1/signup {email, password}      creates a user, answers with a session
//   - POST /auth/v1/token?grant_type=password     signs in, answers with a session (supabase-js signInWithPassword)
//   - mintUserToken(): `deno task token` and the tests create (or reuse) a user and sign an access token.
import { join } from "node:path";
import {
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  jwtVerify,
  type JWTVerifyResult,
  SignJWT,
} from "jose";
import type postgres from "postgres";
import { JWT_SECRET } from "./config.ts";

/** The access tokens' lifetime (config.toml [auth] jwt_expiry). */
export const JWT_EXPIRY_SECONDS = 3600;

export interface SigningKey {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

export interface Jwks {
  keys: JWK[];
}

const legacySecret = new TextEncoder().encode(JWT_SECRET);

export function signingKeyFile(stateDir: string): string {
  return join(stateDir, "auth", "signing_key.json");
}

/** The stack's ES256 signing key: read from the state folder, or generated and written there. */
export async function loadSigningKey(stateDir: string): Promise<SigningKey> {
  const file = signingKeyFile(stateDir);
  try {
    const privateJwk = JSON.parse(await Deno.readTextFile(file)) as JWK;
    return withPublic(privateJwk);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  const privateJwk: JWK = {
    ...(await exportJWK(privateKey)),
    kid: crypto.randomUUID(),
    alg: "ES256",
    use: "sig",
  };
  await Deno.mkdir(join(stateDir, "auth"), { recursive: true });
  await Deno.writeTextFile(file, JSON.stringify(privateJwk, null, 2), { mode: 0o600 });
  return withPublic(privateJwk);
}

/** The key of a stack that is already running (tests and tools beside it). */
export function readSigningKey(stateDir: string): SigningKey {
  return withPublic(JSON.parse(Deno.readTextFileSync(signingKeyFile(stateDir))) as JWK);
}

function withPublic(privateJwk: JWK): SigningKey {
  const { d: _d, ...rest } = privateJwk;
  return { kid: privateJwk.kid!, privateJwk, publicJwk: rest };
}

export function jwksOf(key: SigningKey): Jwks {
  return { keys: [key.publicJwk] };
}

export interface UserRow {
  id: string;
  email: string | null;
  is_anonymous: boolean;
  raw_app_meta_data: Record<string, unknown> | null;
  raw_user_meta_data: Record<string, unknown> | null;
  created_at: Date | string | null;
}

/** Signs an access token for a user the way Supabase Auth does (ES256 with the project's signing key). */
export async function signAccessToken(
  key: SigningKey,
  issuer: string,
  user: Pick<UserRow, "id" | "email" | "is_anonymous" | "raw_app_meta_data" | "raw_user_meta_data">,
  options: { expiresIn?: number; extraClaims?: Record<string, unknown> } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const privateKey = await importJWK(key.privateJwk, "ES256");
  return await new SignJWT({
    aud: "authenticated",
    role: "authenticated",
    email: user.email ?? "",
    phone: "",
    app_metadata: user.raw_app_meta_data ?? { provider: "email", providers: ["email"] },
    user_metadata: user.raw_user_meta_data ?? {},
    aal: "aal1",
    amr: [{ method: user.is_anonymous ? "anonymous" : "password", timestamp: now }],
    session_id: crypto.randomUUID(),
    is_anonymous: user.is_anonymous,
    ...options.extraClaims,
  })
    .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "JWT" })
    .setIssuer(issuer)
    .setSubject(user.id)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresIn ?? JWT_EXPIRY_SECONDS))
    .sign(privateKey);
}

/** Verifies a token signed by this stack: ES256 with its key, or HS256 with the legacy secret. */
export async function verifyStackToken(key: SigningKey, token: string): Promise<JWTVerifyResult> {
  const header = JSON.parse(new TextDecoder().decode(decodeSegment(token.split(".")[0] ?? "")));
  if (header.alg === "ES256") {
    if (header.kid !== key.kid) throw new Error("the token was signed by a key this project does not have");
    return await jwtVerify(token, await importJWK(key.publicJwk, "ES256"), {
      algorithms: ["ES256"],
      requiredClaims: ["exp"],
    });
  }
  return await jwtVerify(token, legacySecret, { algorithms: ["HS256"], requiredClaims: ["exp"] });
}

function decodeSegment(segment: string): Uint8Array {
  const base64 = segment.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(base64 + "=".repeat((4 - base64.length % 4) % 4)), (c) => c.charCodeAt(0));
}

type Sql = postgres.Sql;

const USER_COLUMNS = "id::text, email, is_anonymous, raw_app_meta_data, raw_user_meta_data, created_at";

/** Creates (or reuses, by email) a user in auth.users; anonymous users get no email. */
export async function ensureUser(
  sql: Sql,
  options: { email?: string; anonymous?: boolean; password?: string } = {},
): Promise<UserRow> {
  if (options.anonymous) {
    const [row] = await sql.unsafe<UserRow[]>(
      `insert into auth.users (is_anonymous, raw_app_meta_data) values (true, '{"provider":"anonymous","providers":["anonymous"]}')
       returning ${USER_COLUMNS}`,
    );
    return row;
  }
  const email = (options.email ?? "dev@example.com").trim().toLowerCase();
  const [row] = await sql.unsafe<UserRow[]>(
    `insert into auth.users (email, email_confirmed_at, encrypted_password, raw_app_meta_data)
     values ($1, now(), case when $2::text is null then null else extensions.crypt($2, extensions.gen_salt('bf')) end,
             '{"provider":"email","providers":["email"]}')
     on conflict (email) do update set updated_at = now()
     returning ${USER_COLUMNS}`,
    [email, options.password ?? null],
  );
  return row;
}

/** A user's row and a fresh access token for it (`deno task token`). */
export async function mintUserToken(
  sql: Sql,
  key: SigningKey,
  issuer: string,
  options: { email?: string; anonymous?: boolean; expiresIn?: number } = {},
): Promise<{ user: UserRow; token: string }> {
  const user = await ensureUser(sql, options);
  return { user, token: await signAccessToken(key, issuer, user, { expiresIn: options.expiresIn }) };
}

function authError(status: number, errorCode: string, msg: string): Response {
  return Response.json({ code: status, error_code: errorCode, msg }, { status });
}

function userJson(user: UserRow) {
  return {
    id: user.id,
    aud: "authenticated",
    role: "authenticated",
    email: user.email ?? "",
    phone: "",
    app_metadata: user.raw_app_meta_data ?? {},
    user_metadata: user.raw_user_meta_data ?? {},
    identities: [],
    created_at: user.created_at,
    is_anonymous: user.is_anonymous,
  };
}

async function session(key: SigningKey, issuer: string, user: UserRow): Promise<Response> {
  const accessToken = await signAccessToken(key, issuer, user);
  return Response.json({
    access_token: accessToken,
    token_type: "bearer",
    expires_in: JWT_EXPIRY_SECONDS,
    expires_at: Math.floor(Date.now() / 1000) + JWT_EXPIRY_SECONDS,
    refresh_token: crypto.randomUUID(),
    user: userJson(user),
  });
}

/** Answers /auth/v1/* on the gateway. */
export function authHandler(
  options: { key: SigningKey; issuer: string; sql: () => Sql },
): (req: Request, path: string) => Promise<Response> {
  const { key, issuer } = options;
  return async (req, path) => {
    if (req.method === "GET" && path === "/.well-known/jwks.json") {
      return Response.json(jwksOf(key), { headers: { "cache-control": "public, max-age=600" } });
    }
    if (req.method === "GET" && path === "/user") {
      const token = req.headers.get("authorization")?.match(/^Bearer ([^\s]+)$/)?.[1];
      if (!token) return authError(401, "no_authorization", "This endpoint requires a Bearer token");
      let sub: unknown;
      try {
        sub = (await verifyStackToken(key, token)).payload.sub;
      } catch (error) {
        return authError(
          403,
          "bad_jwt",
          `invalid JWT: unable to parse or verify signature, ${(error as Error).message}`,
        );
      }
      if (typeof sub !== "string") return authError(403, "bad_jwt", "invalid claim: missing sub claim");
      const [user] = await options.sql().unsafe<UserRow[]>(
        `select ${USER_COLUMNS} from auth.users where id::text = $1`,
        [sub],
      ).catch(() => []);
      if (!user) return authError(403, "user_not_found", "User from sub claim in JWT does not exist");
      return Response.json(userJson(user));
    }
    if (req.method === "POST" && (path === "/signup" || path === "/token")) {
      const grant = new URL(req.url).searchParams.get("grant_type");
      if (path === "/token" && grant !== "password") {
        return authError(400, "unsupported_grant_type", "The local stack supports grant_type=password only");
      }
      const body = await req.json().catch(() => null) as { email?: unknown; password?: unknown } | null;
      const email = typeof body?.email === "string" ? body.email.trim().toLowerCase() : "";
      const password = typeof body?.password === "string" ? body.password : "";
      if (!email.includes("@") || password.length < 6) {
        return authError(
          400,
          "validation_failed",
          "An email and a password of at least 6 characters are required",
        );
      }
      const sql = options.sql();
      if (path === "/signup") {
        const [taken] = await sql`select 1 from auth.users where email = ${email}`;
        if (taken) return authError(422, "user_already_exists", "User already registered");
        return await session(key, issuer, await ensureUser(sql, { email, password }));
      }
      const [user] = await sql.unsafe<UserRow[]>(
        `select ${USER_COLUMNS} from auth.users
         where email = $1 and encrypted_password is not null
           and encrypted_password = extensions.crypt($2, encrypted_password)`,
        [email, password],
      );
      if (!user) return authError(400, "invalid_credentials", "Invalid login credentials");
      return await session(key, issuer, user);
    }
    return authError(404, "not_found", `The local stack's auth server does not serve ${req.method} ${path}`);
  };
}
