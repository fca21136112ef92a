// Every function verifies every credential itself and fails closed (supabase/functions/_shared/auth.ts), with the
// environment exactly as hosted gives it (no JWT secret; the stack's functions run with verify_jwt = false like
// the deployed ones). For each function: forged credentials are refused with 401, genuine ones accepted (a user
// function answers the caller's invalid body with 400, which it only reaches after authentication; a worker
// answers users with 403). Plus `deno task token` and supabase-js's sign-up / password sign-in on the local stack.
import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import { SignJWT } from "jose";
import { accessToken, attachedStack } from "../stack/attach.ts";
import { JWT_SECRET, PUBLISHABLE_KEY, ROOT, SECRET_KEY } from "../stack/config.ts";
import { type Answer, call, createUser, legacyUserToken } from "./_functions.ts";
import { ANON_KEY, db, SERVICE_ROLE_KEY, SUPABASE_URL } from "./_stack.ts";

const sql = db();

type Kind = "user" | "worker";
const FUNCTIONS: Array<{ name: string; kind: Kind }> = [
  { name: "generate-embedding", kind: "user" },
  { name: "custom-llm", kind: "user" },
  { name: "fix-code-error", kind: "user" },
  { name: "code-fix-feedback", kind: "user" },
  { name: "mcp", kind: "user" },
  { name: "embed-worker", kind: "worker" },
  { name: "ts-error-worker", kind: "worker" },
];

/** A body every function refuses after authenticating: an unknown field (the MCP endpoint: not JSON-RPC). */
const INVALID_BODY = { not_a_field: true };

async function send(name: string, headers: HeadersInit): Promise<Answer> {
  return await call(SUPABASE_URL, name, {
    body: INVALID_BODY,
    headers: { accept: "application/json, text/event-stream", ...Object.fromEntries(new Headers(headers)) },
  });
}

function b64url(value: unknown): string {
  return btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

function decodePart(token: string, index: 0 | 1): Record<string, unknown> {
  const part = token.split(".")[index].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(part + "=".repeat((4 - part.length % 4) % 4)));
}

const now = () => Math.floor(Date.now() / 1000);

/** Credentials that must never pass, whatever the function. Built once per user. */
async function forgeries(userId: string): Promise<Array<[string, HeadersInit]>> {
  const genuine = await accessToken(userId);
  const [header, payload] = genuine.split(".");
  const kid = decodePart(genuine, 0).kid as string;
  const serviceClaims = { sub: userId, role: "service_role", aud: "authenticated", exp: now() + 3600 };
  const { privateKey: strangerEc } = await crypto.subtle.generateKey(
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["sign", "verify"],
  );
  const { privateKey: strangerRsa } = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
  const publicJwk = attachedStack().signingKey.publicJwk;
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  return [
    [
      "alg: none with service_role claims",
      bearer(`${b64url({ alg: "none", typ: "JWT" })}.${b64url(serviceClaims)}.`),
    ],
    [
      "alg: none with a user's claims",
      bearer(`${b64url({ alg: "none", typ: "JWT" })}.${b64url(decodePart(genuine, 1))}.`),
    ],
    ["a genuine token with its signature changed", bearer(`${header}.${payload}.${"A".repeat(86)}`)],
    ["a genuine token without its signature", bearer(`${header}.${payload}.`)],
    [
      "a genuine signature over a payload rewritten to service_role",
      bearer(
        `${header}.${b64url({ ...decodePart(genuine, 1), role: "service_role" })}.${genuine.split(".")[2]}`,
      ),
    ],
    [
      "ES256 signed by a key the project does not have (the project's kid)",
      bearer(
        await new SignJWT({ role: "authenticated", aud: "authenticated" }).setSubject(userId)
          .setProtectedHeader({ alg: "ES256", kid, typ: "JWT" }).setIssuedAt().setExpirationTime("1h")
          .sign(strangerEc),
      ),
    ],
    [
      "RS256 with the project's (EC) kid: the algorithm must match the key",
      bearer(
        await new SignJWT({ role: "authenticated", aud: "authenticated" }).setSubject(userId)
          .setProtectedHeader({ alg: "RS256", kid, typ: "JWT" }).setIssuedAt().setExpirationTime("1h")
          .sign(strangerRsa),
      ),
    ],
    [
      "HS256 keyed with the project's public key (algorithm confusion)",
      bearer(
        await new SignJWT(serviceClaims).setProtectedHeader({ alg: "HS256", kid, typ: "JWT" })
          .sign(new TextEncoder().encode(JSON.stringify(publicJwk))),
      ),
    ],
    ["HS256 signed with another secret", bearer(await legacyUserToken(userId, {}, "x".repeat(40)))],
    ["an expired token of the project's key", bearer(await accessToken(userId, { expiresIn: -60 }))],
    [
      "a token without exp",
      bearer(
        await new SignJWT({ sub: userId, role: "authenticated" })
          .setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(new TextEncoder().encode(JWT_SECRET)),
      ),
    ],
    ["a garbage bearer token", bearer("not.a.jwt")],
    ["a malformed Authorization beside the genuine secret key", {
      authorization: "Basic abc",
      apikey: SECRET_KEY,
    }],
    [
      "an empty Bearer beside the genuine service key",
      { authorization: "Bearer ", apikey: SERVICE_ROLE_KEY },
    ],
    [
      "two tokens in one Authorization beside the genuine secret key",
      { authorization: `Bearer ${genuine} ${SERVICE_ROLE_KEY}`, apikey: SECRET_KEY },
    ],
    ["the secret key sent as a Bearer token (hosted's gateway refuses it)", bearer(SECRET_KEY)],
    ["a secret key the project does not have, in apikey", { apikey: "sb_secret_not-this-projects-key" }],
    ["a user's token in the apikey header", { apikey: genuine }],
    ["nothing at all", {}],
  ];
}

Deno.test({
  name: "auth: every function refuses forged credentials and accepts genuine ones",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    try {
      const user = await createUser(sql);
      const forged = await forgeries(user.id);
      const legacyUser = await legacyUserToken(user.id);

      for (const { name, kind } of FUNCTIONS) {
        await t.step(`${name}: forged credentials get 401`, async () => {
          for (const [what, headers] of forged) {
            const answer = await send(name, headers);
            assert.equal(
              answer.status,
              401,
              `${name}, ${what}: ${answer.status} ${JSON.stringify(answer.body)}`,
            );
          }
        });

        await t.step(
          `${name}: the service role (legacy key as Bearer, sb_secret_ key as apikey) passes`,
          async () => {
            const service: Record<string, string>[] = [{ authorization: `Bearer ${SERVICE_ROLE_KEY}` }, {
              apikey: SECRET_KEY,
            }];
            for (const headers of service) {
              const answer = await send(name, headers);
              assert.equal(
                answer.status,
                400,
                `${name}, ${JSON.stringify(headers)}: ${JSON.stringify(answer.body)}`,
              );
            }
          },
        );

        await t.step(
          `${name}: a user's token (ES256, or legacy HS256 checked by the auth server)`,
          async () => {
            for (const token of [user.token, legacyUser]) {
              const answer = await send(name, { authorization: `Bearer ${token}` });
              const expected = kind === "user" ? 400 : 403;
              assert.equal(answer.status, expected, `${name}: ${JSON.stringify(answer.body)}`);
            }
          },
        );

        await t.step(
          `${name}: the anon key, a publishable key and an anonymous sign-in cannot spend`,
          async () => {
            const anonymous = await accessToken(crypto.randomUUID(), { anonymous: true });
            const anonCredentials: Record<string, string>[] = [
              { authorization: `Bearer ${ANON_KEY}` },
              { apikey: PUBLISHABLE_KEY },
              { apikey: ANON_KEY },
              { authorization: `Bearer ${anonymous}` },
            ];
            for (const headers of anonCredentials) {
              const answer = await send(name, headers);
              assert.equal(
                answer.status,
                403,
                `${name}, ${JSON.stringify(headers)}: ${JSON.stringify(answer.body)}`,
              );
            }
          },
        );
      }

      await t.step(
        "a legacy-secret JWT claiming service_role is not the service role's key: 403",
        async () => {
          const token = await legacyUserToken(user.id, { role: "service_role" });
          for (const name of ["embed-worker", "generate-embedding"]) {
            const answer = await send(name, { authorization: `Bearer ${token}` });
            assert.equal(answer.status, 403, `${name}: ${JSON.stringify(answer.body)}`);
          }
        },
      );

      await t.step("a legacy token of a user who does not exist is refused by the auth server", async () => {
        const answer = await send("generate-embedding", {
          authorization: `Bearer ${await legacyUserToken(crypto.randomUUID())}`,
        });
        assert.equal(answer.status, 401, JSON.stringify(answer.body));
      });
    } finally {
      await sql.end();
    }
  },
});

Deno.test({
  name: "auth: `deno task token` prints a working access token for a user of the stack",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const sql = db();
    try {
      const email = `token-${crypto.randomUUID()}@example.test`;
      const run = async (args: string[]) => {
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", "stack/cli.ts", "token", ...args],
          cwd: ROOT,
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        return {
          token: new TextDecoder().decode(out.stdout).trim(),
          help: new TextDecoder().decode(out.stderr),
        };
      };
      const first = await run(["--email", email]);
      assert.match(first.help, /curl/);
      assert.match(first.help, /supabase-js/);
      const claims = decodePart(first.token, 1);
      const [row] = await sql`select id::text from auth.users where email = ${email}`;
      assert.equal(claims.sub, row.id, "the token is for the user it created");
      assert.equal(decodePart(first.token, 0).alg, "ES256");
      const again = await run([`--email=${email}`]);
      assert.equal(decodePart(again.token, 1).sub, row.id, "the same email reuses the user");
      const answer = await call(SUPABASE_URL, "generate-embedding", {
        token: first.token,
        body: { input: "x" },
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const anonymous = await run(["--anonymous"]);
      assert.equal(decodePart(anonymous.token, 1).is_anonymous, true);
      const refused = await call(SUPABASE_URL, "generate-embedding", {
        token: anonymous.token,
        body: { input: "x" },
      });
      assert.equal(refused.status, 403, "an anonymous sign-in cannot spend model time");
    } finally {
      await sql.end();
    }
  },
});

Deno.test({
  name: "auth: supabase-js signs up and signs in on the local stack; the session calls the functions",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const supabase = createClient(SUPABASE_URL, PUBLISHABLE_KEY, { auth: { persistSession: false } });
    const email = `js-${crypto.randomUUID()}@example.test`;
    const signUp = await supabase.auth.signUp({ email, password: "correct horse battery" });
    assert.equal(signUp.error, null, String(signUp.error?.message));
    const wrong = await supabase.auth.signInWithPassword({ email, password: "wrong password" });
    assert.ok(wrong.error, "a wrong password is refused");
    const { data, error } = await supabase.auth.signInWithPassword({
      email,
      password: "correct horse battery",
    });
    assert.equal(error, null, String(error?.message));
    assert.equal(data.user?.email, email);
    const claims = await supabase.auth.getClaims();
    assert.equal(claims.error, null, String(claims.error?.message));
    assert.equal(
      claims.data?.claims.email,
      email,
      "getClaims() verifies the session against the stack's JWKS",
    );
    const invoked = await supabase.functions.invoke("generate-embedding", { body: { input: "signed in" } });
    assert.equal(invoked.error, null, String(invoked.error));
    assert.equal(invoked.data.embedding.length, 384);
  },
});
