// pg_net's SQL interface (the real extension or the local stand-in) delivers requests asynchronously and
// records each outcome in net._http_response like pg_net: status, headers, body, timeouts, connection errors.
import assert from "node:assert/strict";
import { db, eventually } from "./_stack.ts";

interface Received {
  method: string;
  path: string;
  search: string;
  headers: Headers;
  body: string;
}

function startEchoServer() {
  const received: Received[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    received.push({
      method: req.method,
      path: url.pathname,
      search: url.search,
      headers: req.headers,
      body: await req.text(),
    });
    if (url.pathname === "/slow") await new Promise((r) => setTimeout(r, 1500));
    if (url.pathname === "/teapot") return new Response("short and stout", { status: 418 });
    return Response.json({ ok: true, path: url.pathname }, { headers: { "x-echo": "yes" } });
  });
  return { received, url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

async function responseOf(sql: ReturnType<typeof db>, id: string) {
  return await eventually(async () => {
    const [row] = await sql`select * from net._http_response where id = ${id}`;
    return row;
  }, `a response row for request ${id}`);
}

Deno.test("net.http_post delivers a JSON POST after commit and records status, headers and body", async () => {
  const server = startEchoServer();
  const sql = db();
  try {
    const [{ id }] = await sql`
      select net.http_post(
        url := ${server.url + "/hook"},
        body := '{"hello": "world"}'::jsonb,
        headers := '{"Content-Type": "application/json", "Authorization": "Bearer t0ken"}'::jsonb
      ) as id`;
    assert.match(String(id), /^\d+$/);
    const row = await responseOf(sql, id);
    assert.equal(row.status_code, 200);
    assert.equal(row.timed_out, false);
    assert.equal(row.error_msg, null);
    assert.deepEqual(JSON.parse(row.content), { ok: true, path: "/hook" });
    assert.equal(row.headers["x-echo"], "yes");
    assert.match(row.content_type, /application\/json/);
    const [request] = server.received;
    assert.equal(request.method, "POST");
    assert.deepEqual(JSON.parse(request.body), { hello: "world" });
    assert.equal(request.headers.get("authorization"), "Bearer t0ken");
    assert.equal(request.headers.get("content-type"), "application/json");
  } finally {
    await sql.end();
    await server.close();
  }
});

Deno.test("net.http_get url-encodes params and records a non-2xx status as a response, not an error", async () => {
  const server = startEchoServer();
  const sql = db();
  try {
    const [{ id }] = await sql`
      select net.http_get(${server.url + "/teapot"}, params := '{"q": "a b&c", "n": "1"}'::jsonb) as id`;
    const row = await responseOf(sql, id);
    assert.equal(row.status_code, 418);
    assert.equal(row.content, "short and stout");
    const params = new URLSearchParams(server.received[0].search);
    assert.equal(params.get("q"), "a b&c");
    assert.equal(params.get("n"), "1");
  } finally {
    await sql.end();
    await server.close();
  }
});

Deno.test("a request slower than timeout_milliseconds is recorded as timed out", async () => {
  const server = startEchoServer();
  const sql = db();
  try {
    const [{ id }] = await sql`select net.http_post(${
      server.url + "/slow"
    }, timeout_milliseconds := 200) as id`;
    const row = await responseOf(sql, id);
    assert.equal(row.timed_out, true);
    assert.equal(row.status_code, null);
    assert.match(row.error_msg, /Timeout of 200 ms/);
  } finally {
    await sql.end();
    await server.close();
  }
});

Deno.test("a connection error is recorded with its reason", async () => {
  const sql = db();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close(); // nothing listens there now
  try {
    const [{ id }] = await sql`select net.http_delete(${`http://127.0.0.1:${port}/gone`}) as id`;
    const row = await responseOf(sql, id);
    assert.equal(row.status_code, null);
    assert.equal(row.timed_out, false);
    assert.match(row.error_msg, /connect/i);
  } finally {
    await sql.end();
  }
});

Deno.test("a rolled-back transaction sends nothing", async () => {
  const server = startEchoServer();
  const sql = db();
  try {
    let id = "";
    await sql.begin(async (tx) => {
      [{ id }] = await tx`select net.http_post(${server.url + "/never"}) as id`;
      throw new Error("roll back");
    }).catch(() => {});
    // A committed request sent afterwards arrives; the rolled-back one never does.
    const [{ id: later }] = await sql`select net.http_post(${server.url + "/later"}) as id`;
    await responseOf(sql, later);
    assert.deepEqual(server.received.map((r) => r.path), ["/later"]);
    const rows = await sql`select 1 from net._http_response where id = ${id}`;
    assert.equal(rows.length, 0);
  } finally {
    await sql.end();
    await server.close();
  }
});

Deno.test("net.http_post refuses a non-JSON content type and a null body, as pg_net does", async () => {
  const sql = db();
  try {
    await assert.rejects(
      sql`select net.http_post('http://127.0.0.1:1/', headers := '{"Content-Type": "text/plain"}'::jsonb)`,
      /Content-Type header must be "application\/json"/,
    );
    await assert.rejects(
      sql`select net.http_post('http://127.0.0.1:1/', body := null)`,
      /body must not be null/,
    );
  } finally {
    await sql.end();
  }
});
