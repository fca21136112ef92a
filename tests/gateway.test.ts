// The functions gateway's contract on a fixture project (tests/fixtures/gateway), held to hosted Supabase's rules:
// verify_jwt as hosted's gateway checks it (JWTs only, never API keys), headers passed through untouched, hosted's
// environment and nothing else, the Edge Runtime's rules biting (no native addons, no FFI, no subprocesses, sync
// reads only at init, writes only to the temp folder, 256 MB), the runtime API (Supabase.ai.Session,
// EdgeRuntime.waitUntil), CORS, 404s, streaming, crash isolation. And supabase-js against the real stack.
import assert from "node:assert/strict";
import { join } from "node:path";
import { createClient } from "@supabase/supabase-js";
import { SignJWT } from "jose";
import { accessToken, type ExtraGateway, startExtraGateway } from "../stack/attach.ts";
import {
  ANON_KEY,
  HOSTED_ENV,
  JWT_SECRET,
  PUBLISHABLE_KEY,
  ROOT,
  SECRET_KEY,
  SERVICE_ROLE_KEY,
} from "../stack/config.ts";
import { ANON_KEY as STACK_ANON_KEY, SUPABASE_URL } from "./_stack.ts";

const FIXTURE = join(ROOT, "tests", "fixtures", "gateway", "supabase");

let gateway: ExtraGateway | null = null;

function fixtureGateway(): ExtraGateway {
  gateway ??= startExtraGateway({ EXTRA: "from-stack" }, { supabaseDir: FIXTURE, readDotEnv: true });
  return gateway;
}

const logs = () => fixtureGateway().logs;

async function call(path: string, init: RequestInit = {}): Promise<Response> {
  return await fetch(`${fixtureGateway().url}/functions/v1/${path}`, init);
}

async function sign(claims: Record<string, unknown>, secret = JWT_SECRET, expiresIn = "1h"): Promise<string> {
  return await new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuedAt()
    .setExpirationTime(expiresIn).sign(new TextEncoder().encode(secret));
}

function bearer(token: string): RequestInit {
  return { headers: { authorization: `Bearer ${token}` } };
}

async function errorOf(response: Response): Promise<{ code: string; message: string }> {
  assert.match(response.headers.get("content-type") ?? "", /application\/json/);
  const body = await response.json();
  assert.equal(typeof body.error?.code, "string");
  assert.equal(typeof body.error?.message, "string");
  return body.error;
}

/** GET /functions/v1/rules/<rule> of the fixture: {"ok", "value"?, "error"?}. */
async function rule(name: string): Promise<{ ok: boolean; value?: unknown; error?: string }> {
  const response = await call(`rules/${name}`);
  assert.equal(response.status, 200, `rules/${name}: ${response.status}`);
  return await response.json();
}

Deno.test({
  name: "gateway",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    try {
      await t.step("a request without a token gets 401 with a JSON error", async () => {
        const response = await call("echo", { method: "POST", body: "{}" });
        assert.equal(response.status, 401);
        assert.equal((await errorOf(response)).code, "missing_authorization");
      });

      await t.step("a token signed with another secret gets 401", async () => {
        const response = await call("echo", bearer(await sign({ role: "anon" }, "x".repeat(40))));
        assert.equal(response.status, 401);
        assert.equal((await errorOf(response)).code, "invalid_jwt");
      });

      await t.step("an expired token gets 401", async () => {
        const token = await new SignJWT({ role: "authenticated" }).setProtectedHeader({ alg: "HS256" })
          .setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(new TextEncoder().encode(JWT_SECRET));
        const response = await call("echo", bearer(token));
        assert.equal(response.status, 401);
        assert.match((await errorOf(response)).message, /exp/);
      });

      await t.step("a garbage token gets 401", async () => {
        const response = await call("echo", bearer("not-a-jwt"));
        assert.equal(response.status, 401);
        await response.body?.cancel();
      });

      await t.step(
        "the CLI's local anon and service_role keys pass, and the function sees them",
        async () => {
          for (const key of [ANON_KEY, SERVICE_ROLE_KEY]) {
            const response = await call("echo/sub/path?x=1", {
              method: "POST",
              body: "hello",
              ...bearer(key),
            });
            assert.equal(response.status, 200);
            const seen = await response.json();
            assert.equal(seen.authorization, `Bearer ${key}`);
            assert.equal(seen.method, "POST");
            assert.equal(seen.path, "/echo/sub/path");
            assert.equal(seen.search, "?x=1");
            assert.equal(seen.body, "hello");
            assert.equal(seen.note, "shared");
          }
        },
      );

      await t.step(
        "a user's JWT passes: signed with the project's ES256 key, or a legacy HS256 one",
        async () => {
          const id = crypto.randomUUID();
          for (const token of [await accessToken(id), await sign({ sub: id, role: "authenticated" })]) {
            const response = await call("echo", bearer(token));
            assert.equal(response.status, 200);
            assert.equal((await response.json()).authorization, `Bearer ${token}`);
          }
        },
      );

      await t.step("an ES256 token signed by a key the project does not have gets 401", async () => {
        const { privateKey } = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
          "sign",
          "verify",
        ]);
        const kid = JSON.parse(atob(
          (await accessToken(crypto.randomUUID())).split(".")[0].replace(/-/g, "+")
            .replace(/_/g, "/"),
        )).kid;
        const forged = await new SignJWT({ sub: crypto.randomUUID(), role: "authenticated" })
          .setProtectedHeader({ alg: "ES256", kid }).setIssuedAt().setExpirationTime("1h").sign(privateKey);
        const response = await call("echo", bearer(forged));
        assert.equal(response.status, 401);
        assert.equal((await errorOf(response)).code, "invalid_jwt");
      });

      await t.step(
        "API keys are not JWTs: an apikey header alone or `Bearer sb_…` gets 401 where verify_jwt is on (hosted)",
        async () => {
          for (const key of [PUBLISHABLE_KEY, SECRET_KEY]) {
            const viaApikey = await call("echo", { headers: { apikey: key } });
            assert.equal(viaApikey.status, 401);
            assert.equal((await errorOf(viaApikey)).code, "missing_authorization");
            const viaBearer = await call("echo", bearer(key));
            assert.equal(viaBearer.status, 401);
            assert.equal((await errorOf(viaBearer)).code, "invalid_jwt");
          }
        },
      );

      await t.step("with verify_jwt = false every header reaches the function untouched", async () => {
        const open = await fetch(`${fixtureGateway().url}/functions/v1/open`, {
          headers: { apikey: SECRET_KEY, authorization: "Bearer not-checked-here" },
        });
        assert.equal(open.status, 200);
        assert.deepEqual(await open.json(), { open: true, authorization: "Bearer not-checked-here" });
      });

      await t.step("verify_jwt = false lets requests through without a token", async () => {
        const response = await call("open");
        assert.equal(response.status, 200);
        assert.deepEqual(await response.json(), { open: true, authorization: null });
      });

      await t.step(
        "a function's environment is exactly hosted's: the platform's variables, functions/.env, nothing else",
        async () => {
          const { env } = await (await call("echo", bearer(ANON_KEY))).json() as {
            env: Record<string, string>;
          };
          assert.equal(env.FIXTURE_DOTENV, "from-dotenv");
          assert.equal(env.EXTRA, "from-stack");
          assert.equal(env.SUPABASE_URL, fixtureGateway().url);
          assert.equal(env.SUPABASE_ANON_KEY, ANON_KEY);
          assert.equal(env.SUPABASE_SERVICE_ROLE_KEY, SERVICE_ROLE_KEY);
          assert.deepEqual(JSON.parse(env.SUPABASE_PUBLISHABLE_KEYS), { default: PUBLISHABLE_KEY });
          assert.deepEqual(JSON.parse(env.SUPABASE_SECRET_KEYS), { default: SECRET_KEY });
          assert.equal(JSON.parse(env.SUPABASE_JWKS).keys[0].kty, "EC");
          assert.equal(JSON.parse(env.SUPABASE_JWKS).keys[0].d, undefined, "only the public key");
          assert.match(env.SUPABASE_DB_URL, /^postgresql:\/\//);
          assert.match(env.SB_EXECUTION_ID, /^[0-9a-f-]{36}$/);
          const hosted = new Set<string>([...HOSTED_ENV, "SB_EXECUTION_ID"]);
          // The process's own plumbing (Deno's cache, locale, the machine's proxy and certificates, the temp
          // folder) is allowed; any other name would be something hosted does not give.
          const plumbing =
            /^(PATH|HOME|DENO_DIR|LANG|NO_COLOR|TMPDIR|DENO_CERT|DENO_TLS_CA_STORE|SSL_CERT_FILE|SSL_CERT_DIR|NODE_EXTRA_CA_CERTS|(HTTPS?|NO|ALL)_PROXY|(https?|no|all)_proxy)$/;
          const unexpected = Object.keys(env).filter((name) =>
            !hosted.has(name) && !plumbing.test(name) && name !== "FIXTURE_DOTENV" && name !== "EXTRA"
          );
          assert.deepEqual(unexpected, [], `variables hosted would not give: ${unexpected.join(", ")}`);
          assert.equal(env.SUPABASE_JWT_SECRET, undefined, "no JWT secret, even from functions/.env");
        },
      );

      await t.step(
        "test and bench stacks give functions only what the tests set: the developer's functions/.env is not read",
        async () => {
          // The same fixture project (its functions/.env sets FIXTURE_DOTENV) behind a gateway configured like
          // the test stack's (stack/test_runner.ts: readDotEnv false).
          const hermetic = startExtraGateway({ EXTRA: "set-by-the-test" }, { supabaseDir: FIXTURE });
          try {
            const response = await fetch(`${hermetic.url}/functions/v1/echo`, {
              headers: { authorization: `Bearer ${ANON_KEY}` },
            });
            const { env } = await response.json() as { env: Record<string, string> };
            assert.equal(env.EXTRA, "set-by-the-test");
            assert.equal(env.FIXTURE_DOTENV, undefined, "nothing from functions/.env");
          } finally {
            await hermetic.stop();
          }
          const runner = await Deno.readTextFile(join(ROOT, "stack", "test_runner.ts"));
          assert.match(runner, /readDotEnv: false/, "the test stack is configured so");
        },
      );

      await t.step(
        "functions/.env names with the reserved SUPABASE_ prefix are refused with a message",
        () => {
          for (const name of ["SUPABASE_URL", "SUPABASE_JWT_SECRET"]) {
            assert.ok(
              logs().some((line) => line.includes(`Env name cannot start with SUPABASE_, skipping: ${name}`)),
              `${name} refused in the log`,
            );
          }
        },
      );

      await t.step("the Edge Runtime's rules bite: sync reads only at init", async () => {
        assert.equal((await rule("init-read")).ok, true, "reading a file while the module initialises works");
        for (const name of ["sync-read", "sync-stat", "node-sync-read"]) {
          const result = await rule(name);
          assert.equal(result.ok, false, `${name} after init must fail`);
          assert.match(result.error!, /not allowed after the function's module has initialised/);
        }
        assert.equal((await rule("async-read")).ok, true, "asynchronous reads of the function's files work");
      });

      await t.step(
        "the Edge Runtime's rules bite: no FFI, no subprocesses, no reads or writes outside",
        async () => {
          for (const name of ["ffi", "subprocess", "read-outside", "write-outside"]) {
            const result = await rule(name);
            assert.equal(result.ok, false, `${name} must fail`);
            assert.match(result.error!, /NotCapable|PermissionDenied|Requires|access/i, String(result.error));
          }
          assert.equal((await rule("write-tmp")).ok, true, "writing to the temp folder works");
        },
      );

      await t.step("a native addon fails the function at boot, as on hosted", async () => {
        const response = await call("native-addon");
        assert.equal(response.status, 500);
        assert.equal((await errorOf(response)).code, "function_boot_error");
        assert.ok(
          logs().some((line) => line.includes("[native-addon]") && /ffi|Requires|NotCapable/i.test(line)),
          "the log says why",
        );
      });

      await t.step("the heap is capped at 256 MB: a function that needs more dies", async () => {
        const response = await call("rules/memory");
        assert.equal(response.status, 500);
        assert.equal((await errorOf(response)).code, "function_crashed");
        assert.equal((await rule("init-read")).ok, true, "a fresh process serves the next request");
      });

      await t.step(
        "the runtime API: Supabase.ai.Session('gte-small') and EdgeRuntime.waitUntil",
        async () => {
          const ai = await rule("ai");
          assert.equal(ai.ok, true, String(ai.error));
          const value = ai.value as { dims: number[]; norm: number };
          assert.deepEqual(value.dims, [384, 384]);
          assert.ok(Math.abs(value.norm - 1) < 1e-4, `unit length, got ${value.norm}`);
          const other = await rule("ai-other-model");
          assert.equal(other.ok, false);
          assert.match(other.error!, /gte-small/);
          assert.deepEqual(await rule("wait-until"), { ok: true, value: "function" });
        },
      );

      await t.step("CORS preflight is answered without a token", async () => {
        const response = await call("echo", {
          method: "OPTIONS",
          headers: { origin: "http://example.test", "access-control-request-method": "POST" },
        });
        assert.equal(response.status, 204);
        assert.equal(response.headers.get("access-control-allow-origin"), "*");
        assert.match(response.headers.get("access-control-allow-headers") ?? "", /authorization/);
        assert.match(response.headers.get("access-control-allow-headers") ?? "", /apikey/);
        await response.body?.cancel();
      });

      await t.step("responses carry CORS headers", async () => {
        const response = await call("open");
        assert.equal(response.headers.get("access-control-allow-origin"), "*");
        await response.body?.cancel();
      });

      await t.step("an unknown function, _shared and a path outside /functions/v1 get 404", async () => {
        for (const path of ["nope", "_shared"]) {
          const response = await call(path, bearer(ANON_KEY));
          assert.equal(response.status, 404);
          assert.equal((await errorOf(response)).code, "function_not_found");
        }
        const outside = await fetch(`${fixtureGateway().url}/rest/v1/things`);
        assert.equal(outside.status, 404);
        await errorOf(outside);
      });

      await t.step("a function that fails to boot gets 500, with the reason in the log", async () => {
        const response = await call("boot-error", bearer(ANON_KEY));
        assert.equal(response.status, 500);
        assert.equal((await errorOf(response)).code, "function_boot_error");
        assert.ok(logs().some((line) => line.includes("this function cannot start")));
      });

      await t.step("a function that crashes gets 500; the gateway and other functions stay up", async () => {
        const before = await (await call("crash")).json();
        const crashed = await call("crash/exit");
        assert.equal(crashed.status, 500);
        assert.equal((await errorOf(crashed)).code, "function_crashed");
        const other = await call("open");
        assert.equal(other.status, 200);
        await other.body?.cancel();
        const after = await call("crash");
        assert.equal(after.status, 200);
        assert.notEqual((await after.json()).pid, before.pid, "a fresh process serves the next request");
      });

      await t.step("a handler that throws gets 500 and its process keeps serving", async () => {
        const before = await (await call("crash")).json();
        const thrown = await call("crash/throw");
        assert.equal(thrown.status, 500);
        await thrown.body?.cancel();
        assert.equal((await (await call("crash")).json()).pid, before.pid);
      });

      await t.step("server-sent events pass through as they are produced", async () => {
        const response = await call("stream", bearer(ANON_KEY));
        assert.equal(response.headers.get("content-type"), "text/event-stream");
        const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
        const first = await reader.read();
        const firstAt = Date.now();
        assert.match(first.value ?? "", /"n":0/);
        let rest = "";
        for (let r = await reader.read(); !r.done; r = await reader.read()) rest += r.value;
        assert.match(rest, /"n":2/);
        assert.ok(Date.now() - firstAt >= 250, "the first event arrived before the last one was produced");
      });

      await t.step(
        "supabase-js: the legacy anon key passes verify_jwt; a publishable key (apikey only) does not, as hosted",
        async () => {
          const legacy = createClient(fixtureGateway().url, ANON_KEY, { auth: { persistSession: false } });
          const { data, error } = await legacy.functions.invoke("echo", { body: { question: 42 } });
          assert.equal(error, null);
          assert.equal(data.authorization, `Bearer ${ANON_KEY}`);
          assert.deepEqual(JSON.parse(data.body), { question: 42 });
          const current = createClient(fixtureGateway().url, PUBLISHABLE_KEY, {
            auth: { persistSession: false },
          });
          const refused = await current.functions.invoke("echo", { body: {} });
          assert.equal((refused.error as { context?: Response })?.context?.status, 401);
          const open = await current.functions.invoke("open", { method: "GET" });
          assert.equal(
            open.error,
            null,
            "functions with verify_jwt = false take it (and check it themselves)",
          );
        },
      );

      await t.step("each request is logged as one line, with the CPU time the function spent", () => {
        assert.ok(logs().some((line) => /GET \/functions\/v1\/open 200 \d+ms cpu \d+ms$/.test(line)));
        assert.ok(logs().some((line) => /POST \/functions\/v1\/echo 401 \d+ms$/.test(line)));
      });
    } finally {
      await gateway?.stop();
    }
  },
});

Deno.test("supabase-js functions.invoke works against the stack's gateway", async () => {
  const supabase = createClient(SUPABASE_URL, STACK_ANON_KEY, { auth: { persistSession: false } });
  const { data, error } = await supabase.functions.invoke("health", { method: "GET" });
  assert.equal(error, null);
  assert.equal(data.status, "ok");
  assert.equal(data.database, "ok");
});

Deno.test("supabase-js with the new publishable key works against the stack's gateway", async () => {
  const supabase = createClient(SUPABASE_URL, PUBLISHABLE_KEY, { auth: { persistSession: false } });
  const { data, error } = await supabase.functions.invoke("health", { method: "GET" });
  assert.equal(error, null);
  assert.equal(data.status, "ok");
});
