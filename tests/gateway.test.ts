// The functions gateway's contract, on a fixture project (tests/fixtures/gateway): JWT rules, the new-style
// API keys, CORS, 404s, env injection, streaming, and crash isolation. And supabase-js against the real stack.
import assert from "node:assert/strict";
import { join } from "node:path";
import { createClient } from "@supabase/supabase-js";
import { SignJWT } from "jose";
import {
  ANON_KEY,
  JWT_SECRET,
  platformEnv,
  PUBLISHABLE_KEY,
  ROOT,
  SECRET_KEY,
  SERVICE_ROLE_KEY,
} from "../stack/config.ts";
import { freePort } from "../stack/function_workers.ts";
import { type Gateway, startGateway } from "../stack/gateway.ts";
import { ANON_KEY as STACK_ANON_KEY, SUPABASE_URL } from "./_stack.ts";

const FIXTURE = join(ROOT, "tests", "fixtures", "gateway", "supabase");

let gateway: Gateway | null = null;
const logs: string[] = [];

function fixtureGateway(): Gateway {
  if (gateway) return gateway;
  const port = freePort();
  const env = {
    ...platformEnv({ stateDir: "", dbPort: 1, apiPort: port, functionsEnv: {} }),
    EXTRA: "from-stack",
  };
  gateway = startGateway({ port, supabaseDir: FIXTURE, env, log: (line) => logs.push(line) });
  return gateway;
}

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

      await t.step("a user's JWT passes", async () => {
        const token = await sign({ sub: crypto.randomUUID(), role: "authenticated" });
        const response = await call("echo", bearer(token));
        assert.equal(response.status, 200);
        assert.equal((await response.json()).authorization, `Bearer ${token}`);
      });

      await t.step("new-style keys in the apikey header stand for the anon / service_role JWT", async () => {
        for (const [key, jwt] of [[PUBLISHABLE_KEY, ANON_KEY], [SECRET_KEY, SERVICE_ROLE_KEY]]) {
          const response = await call("echo", { headers: { apikey: key } });
          assert.equal(response.status, 200);
          assert.equal((await response.json()).authorization, `Bearer ${jwt}`);
        }
        const wrong = await call("echo", { headers: { apikey: "sb_publishable_wrong" } });
        assert.equal(wrong.status, 401);
        await wrong.body?.cancel();
      });

      await t.step("verify_jwt = false lets requests through without a token", async () => {
        const response = await call("open");
        assert.equal(response.status, 200);
        assert.deepEqual(await response.json(), { open: true, authorization: null });
      });

      await t.step(
        "the platform's env and functions/.env reach the function; the platform wins",
        async () => {
          const seen = await (await call("echo", bearer(ANON_KEY))).json();
          assert.equal(seen.env.FIXTURE_DOTENV, "from-dotenv");
          assert.equal(seen.env.EXTRA, "from-stack");
          assert.equal(seen.env.SUPABASE_URL, fixtureGateway().url);
          assert.equal(seen.env.SUPABASE_ANON_KEY, ANON_KEY);
          assert.equal(seen.env.SUPABASE_SERVICE_ROLE_KEY, SERVICE_ROLE_KEY);
          assert.match(seen.env.SUPABASE_DB_URL, /^postgresql:\/\//);
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
        assert.ok(logs.some((line) => line.includes("this function cannot start")));
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
        "supabase-js functions.invoke sends a key the gateway accepts (legacy and new keys)",
        async () => {
          for (const [key, jwt] of [[ANON_KEY, ANON_KEY], [PUBLISHABLE_KEY, ANON_KEY]]) {
            const supabase = createClient(fixtureGateway().url, key, { auth: { persistSession: false } });
            const { data, error } = await supabase.functions.invoke("echo", { body: { question: 42 } });
            assert.equal(error, null);
            assert.equal(data.authorization, `Bearer ${jwt}`);
            assert.deepEqual(JSON.parse(data.body), { question: 42 });
          }
        },
      );

      await t.step("each request is logged as one line", () => {
        assert.ok(logs.some((line) => /GET \/functions\/v1\/open 200 \d+ms$/.test(line)));
        assert.ok(logs.some((line) => /POST \/functions\/v1\/echo 401 \d+ms$/.test(line)));
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
