// generate-embedding through the stack's gateway (raw HTTP and supabase-js), with the generated test model:
// vectors and their shape, batches, every 4xx, and who may call it.
import assert from "node:assert/strict";
import { createClient, FunctionsHttpError } from "@supabase/supabase-js";
import { PUBLISHABLE_KEY } from "../stack/config.ts";
import {
  assertError,
  call,
  cosine,
  createUser,
  startTestGatewayWithModel,
  type TestUser,
} from "./_functions.ts";
import { ANON_KEY, db, SERVICE_ROLE_KEY, SUPABASE_URL } from "./_stack.ts";

const sql = db();
const NAME = "generate-embedding";
type EmbeddingAnswer = {
  embedding: number[];
  embeddings: number[][];
  model: string;
  dims: number;
  count: number;
};

let user: TestUser | null = null;
async function theUser(): Promise<TestUser> {
  return user ??= await createUser(sql);
}

function embed(body: unknown, token: string | null = SERVICE_ROLE_KEY) {
  return call<EmbeddingAnswer>(SUPABASE_URL, NAME, { body, token });
}

function norm(v: number[]): number {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

Deno.test({
  name: "generate-embedding",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    try {
      await t.step(
        "a single text gives 384 finite numbers of unit length, with the model and dims",
        async () => {
          const answer = await embed({ input: "Type 'string' is not assignable to type 'number'." });
          assert.equal(answer.status, 200, JSON.stringify(answer.body));
          const { embedding, model, dims } = answer.body;
          assert.equal(dims, 384);
          assert.equal(
            model,
            "gte-small",
            "the runtime's built-in model (the stack serves the test model under its name)",
          );
          assert.equal(embedding.length, 384);
          assert.ok(embedding.every((x) => typeof x === "number" && Number.isFinite(x)));
          assert.ok(Math.abs(norm(embedding) - 1) < 1e-4, `norm ${norm(embedding)}`);
          assert.equal(answer.body.embeddings, undefined);
        },
      );

      await t.step("the same text always gives the same vector; different texts different ones", async () => {
        const a = (await embed({ input: "const x: number = 1;" })).body.embedding;
        const b = (await embed({ input: "const x: number = 1;" })).body.embedding;
        const c = (await embed({ input: "SELECT * FROM pg_stat_activity" })).body.embedding;
        assert.deepEqual(a, b);
        assert.ok(cosine(a, c) < 0.99, `unrelated texts too close: ${cosine(a, c)}`);
      });

      await t.step(
        "a batch gives one vector per text, in order, equal to the single-text vectors",
        async () => {
          const texts = [
            "Property 'name' does not exist on type 'User'.",
            "Object is possibly 'undefined'.",
            "short",
            "Cannot find name 'foo'. Did you mean 'for'? ".repeat(20),
          ];
          const batch = await embed({ input: texts });
          assert.equal(batch.status, 200, JSON.stringify(batch.body));
          assert.equal(batch.body.count, texts.length);
          assert.equal(batch.body.dims, 384);
          assert.equal(batch.body.embedding, undefined);
          assert.equal(batch.body.embeddings.length, texts.length);
          for (const [i, text] of texts.entries()) {
            const single = (await embed({ input: text })).body.embedding;
            const vector = batch.body.embeddings[i];
            assert.equal(vector.length, 384);
            const worst = Math.max(...vector.map((x, j) => Math.abs(x - single[j])));
            assert.ok(worst < 1e-4, `text ${i}: batch and single vectors differ by ${worst}`);
          }
        },
      );

      await t.step("128 texts are accepted in one call", async () => {
        const answer = await embed({ input: Array.from({ length: 128 }, (_, i) => `text number ${i}`) });
        assert.equal(answer.status, 200);
        assert.equal(answer.body.embeddings.length, 128);
      });

      await t.step("an empty or blank string is refused with 400", async () => {
        for (const input of ["", "   \n"]) {
          const error = assertError(await embed({ input }), 400, "invalid_request");
          assert.match(error.message, /input/);
        }
      });

      await t.step("an empty array, and an array holding an empty string, are refused with 400", async () => {
        assertError(await embed({ input: [] }), 400, "invalid_request");
        assertError(await embed({ input: ["fine", ""] }), 400, "invalid_request");
      });

      await t.step("more than 128 texts are refused with 400", async () => {
        const error = assertError(
          await embed({ input: Array.from({ length: 129 }, (_, i) => `t${i}`) }),
          400,
          "invalid_request",
        );
        assert.match(error.message, /128/);
      });

      await t.step("a text longer than 20000 characters is refused with 400", async () => {
        assert.equal((await embed({ input: "a".repeat(20_000) })).status, 200);
        const error = assertError(await embed({ input: "a".repeat(20_001) }), 400, "invalid_request");
        assert.match(error.message, /20000/);
        assertError(await embed({ input: ["ok", "a".repeat(20_001)] }), 400, "invalid_request");
      });

      await t.step("input of the wrong type, a missing input or an unknown field gets 400", async () => {
        for (const body of [{ input: 42 }, { input: { text: "x" } }, { input: [1, 2] }, {}, [], "text"]) {
          assertError(await embed(body), 400, "invalid_request");
        }
        const wrongType = assertError(await embed({ input: 42 }), 400, "invalid_request");
        assert.match(wrongType.message, /^input: .*expected string or array/);
        const extra = assertError(await embed({ input: "x", model: "other/model" }), 400, "invalid_request");
        assert.match(extra.message, /model|unrecognized/i);
      });

      await t.step("a body that is not JSON, or empty, gets 400 invalid_json", async () => {
        const notJson = await call(SUPABASE_URL, NAME, {
          raw: "{input: 'x'",
          token: SERVICE_ROLE_KEY,
          headers: { "content-type": "application/json" },
        });
        assertError(notJson, 400, "invalid_json");
        assertError(
          await call(SUPABASE_URL, NAME, { raw: "", token: SERVICE_ROLE_KEY }),
          400,
          "invalid_json",
        );
        assertError(await call(SUPABASE_URL, NAME, { token: SERVICE_ROLE_KEY }), 400, "invalid_json");
      });

      await t.step("a body larger than the limit gets 413, declared or streamed", async () => {
        const big = JSON.stringify({ input: "a".repeat(4_100_000) });
        assertError(
          await call(SUPABASE_URL, NAME, { raw: big, token: SERVICE_ROLE_KEY }),
          413,
          "payload_too_large",
        );
        // Without a content-length the function counts the bytes as they arrive.
        const chunk = new TextEncoder().encode("a".repeat(64 * 1024));
        let sent = 0;
        const stream = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent === 0) controller.enqueue(new TextEncoder().encode('{"input": "'));
            if (sent > 5_000_000) return controller.close();
            controller.enqueue(chunk);
            sent += chunk.byteLength;
          },
        });
        const response = await fetch(`${SUPABASE_URL}/functions/v1/${NAME}`, {
          method: "POST",
          headers: { authorization: `Bearer ${SERVICE_ROLE_KEY}`, "content-type": "application/json" },
          body: stream,
          // @ts-ignore: Deno's fetch supports request streaming; the DOM types lack `duplex`.
          duplex: "half",
        });
        assertError({ status: response.status, headers: response.headers, body: await response.json() }, 413);
      });

      await t.step("GET gets 405 with an Allow header", async () => {
        const answer = await call(SUPABASE_URL, NAME, { method: "GET", token: SERVICE_ROLE_KEY });
        assertError(answer, 405, "method_not_allowed");
        assert.match(answer.headers.get("allow") ?? "", /POST/);
      });

      await t.step("no token gets 401", async () => {
        assertError(await embed({ input: "x" }, null), 401, "missing_authorization");
      });

      await t.step("a token signed with another secret gets 401", async () => {
        const forged = (await theUser()).token.replace(/\.[^.]+$/, ".c2lnbmF0dXJl");
        assertError(await embed({ input: "x" }, forged), 401, "invalid_jwt");
      });

      await t.step("the anon key (legacy or publishable) gets 403 sign_in_required", async () => {
        assertError(await embed({ input: "x" }, ANON_KEY), 403, "sign_in_required");
        const answer = await call(SUPABASE_URL, NAME, {
          body: { input: "x" },
          headers: { apikey: PUBLISHABLE_KEY },
        });
        assertError(answer, 403, "sign_in_required");
      });

      await t.step("the service key and a signed-in user's JWT may call it", async () => {
        assert.equal((await embed({ input: "x" }, SERVICE_ROLE_KEY)).status, 200);
        const answer = await embed({ input: "x" }, (await theUser()).token);
        assert.equal(answer.status, 200);
        assert.equal(answer.body.embedding.length, 384);
      });

      await t.step("supabase-js functions.invoke with a user's session gets the vector", async () => {
        const supabase = createClient(SUPABASE_URL, ANON_KEY, { auth: { persistSession: false } });
        supabase.functions.setAuth((await theUser()).token);
        const { data, error } = await supabase.functions.invoke(NAME, { body: { input: ["a", "b"] } });
        assert.equal(error, null);
        assert.equal(data.count, 2);
        assert.equal(data.embeddings[1].length, 384);
      });

      await t.step(
        "a model that cannot be loaded gets 503 with an error id; the log names the model, folder and variables",
        async () => {
          const emptyDir = await Deno.makeTempDir({ prefix: "no-model-" });
          const broken = await startTestGatewayWithModel({}, {
            EMBEDDING_MODEL_DIR: emptyDir,
            EMBEDDING_MODEL: Deno.env.get("EMBEDDING_MODEL")!,
          });
          try {
            const answer = await call(broken.url, NAME, { token: SERVICE_ROLE_KEY, body: { input: "x" } });
            const error = assertError(answer, 503, "embedding_model_unavailable");
            const id = error.message.match(/error id ([0-9a-f-]{36})/)?.[1];
            assert.ok(id, error.message);
            assert.ok(!JSON.stringify(answer.body).includes(emptyDir), "no setting's value in the answer");
            const log = broken.logs.join("\n");
            assert.ok(log.includes(id), "the details are logged under the id");
            assert.ok(log.includes(`"${Deno.env.get("EMBEDDING_MODEL")}"`), "the log names the model");
            assert.ok(log.includes(emptyDir), "and the folder");
            assert.match(log, /EMBEDDING_MODEL_DIR/);
          } finally {
            await broken.stop();
            await Deno.remove(emptyDir, { recursive: true });
          }
        },
      );

      await t.step(
        "supabase-js functions.invoke with only the anon key gets a 403 FunctionsHttpError",
        async () => {
          const supabase = createClient(SUPABASE_URL, ANON_KEY, { auth: { persistSession: false } });
          const { data, error } = await supabase.functions.invoke(NAME, { body: { input: "x" } });
          assert.equal(data, null);
          assert.ok(error instanceof FunctionsHttpError);
          const response = error.context as Response;
          assert.equal(response.status, 403);
          assert.equal((await response.json()).error.code, "sign_in_required");
        },
      );
    } finally {
      await sql.end();
    }
  },
});
