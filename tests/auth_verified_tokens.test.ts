// The functions remember asymmetric tokens they verified (supabase/functions/_shared/auth.ts: a client's next
// request skips the signature check). That must never let through what a fresh check would refuse: an expired
// token, a token with its signature changed, a legacy HS256 token the auth server no longer accepts.
import assert from "node:assert/strict";
import { accessToken } from "../stack/attach.ts";
import { type Answer, call, createUser, legacyUserToken } from "./_functions.ts";
import { db, SUPABASE_URL } from "./_stack.ts";

const sql = db();

/** code-fix-feedback answers an invalid body with 400 only after authenticating the caller. */
async function send(token: string): Promise<Answer> {
  return await call(SUPABASE_URL, "code-fix-feedback", { token, body: { not_a_field: true } });
}

Deno.test({
  name: "auth: remembered tokens",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    try {
      await t.step("a token accepted before is refused once it has expired", async () => {
        const { id } = await createUser(sql);
        const token = await accessToken(id, { expiresIn: 2 });
        assert.equal((await send(token)).status, 400);
        assert.equal((await send(token)).status, 400, "accepted again while valid");
        const exp = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).exp * 1000;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, exp - Date.now()) + 1_100));
        const answer = await send(token);
        assert.equal(answer.status, 401, JSON.stringify(answer.body));
      });

      await t.step("a token accepted before, with its signature changed, is refused", async () => {
        const { id } = await createUser(sql);
        const token = await accessToken(id);
        assert.equal((await send(token)).status, 400);
        const [header, payload, signature] = token.split(".");
        const flipped = signature.slice(0, 10) + (signature[10] === "A" ? "B" : "A") + signature.slice(11);
        assert.equal((await send(`${header}.${payload}.${flipped}`)).status, 401);
        const otherClaims = btoa(
          JSON.stringify({
            ...JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))),
            sub: crypto.randomUUID(),
          }),
        )
          .replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
        assert.equal((await send(`${header}.${otherClaims}.${signature}`)).status, 401, "claims changed");
        assert.equal((await send(token)).status, 400, "the genuine token still passes");
      });

      await t.step("a legacy HS256 token is checked by the auth server every time", async () => {
        const { id } = await createUser(sql);
        const token = await legacyUserToken(id);
        assert.equal((await send(token)).status, 400);
        await sql`delete from auth.users where id = ${id}`;
        const answer = await send(token);
        assert.equal(answer.status, 401, JSON.stringify(answer.body));
      });
    } finally {
      await sql.end();
    }
  },
});
