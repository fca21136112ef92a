// pg_net's SQL interface (the real extension or the local stand-in) delivers requests asynchronously and
// records each outcome in net._http_response like pg_net: status, headers, body, timeouts, connection errors.
//
// Every behaviour checked here is the real extension's, read from its source (github.com/supabase/pg_net,
// v0.20.4); each test names the file. sql/pg_net.sql holds the SQL functions and tables; src/core.c the worker's
// request (init_curl_handle) and what it records (insert_response). The stand-in (stack/sql/pg_net_standin.sql,
// stack/net_worker.ts) must pass them all; so does the real extension (run the suite with LOCAL_STACK_PG_BIN
// pointing at an installation that has it, see README).
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
    if (url.pathname === "/empty") return new Response(null, { status: 204 });
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

// sql/pg_net.sql (net.http_post, net._http_response); src/core.c (insert_response: status, headers,
// content_type, content).
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

// sql/pg_net.sql (net.http_get: params through net._urlencode_string); src/util.c (curl_easy_escape).
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

// src/core.c (CURLOPT_TIMEOUT_MS; insert_response: timed_out) and src/errors.c (detailed_timeout_strerror).
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

// src/core.c (insert_response: error_msg is curl_easy_strerror's sentence, CURLE_COULDNT_CONNECT).
Deno.test("a connection error is recorded with curl's reason", async () => {
  const sql = db();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close(); // nothing listens there now
  try {
    const [{ id }] = await sql`select net.http_delete(${`http://127.0.0.1:${port}/gone`}) as id`;
    const row = await responseOf(sql, id);
    assert.equal(row.status_code, null);
    assert.equal(row.timed_out, false);
    assert.equal(row.error_msg, "Couldn't connect to server");
  } finally {
    await sql.end();
  }
});

// sql/pg_net.sql: requests are rows of net.http_request_queue, which the worker reads only once committed.
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

// sql/pg_net.sql (net.http_post): `if content_type <> 'application/json' then raise exception`.
Deno.test("net.http_post refuses a Content-Type other than exactly application/json", async () => {
  const sql = db();
  try {
    for (const type of ["text/plain", "application/json; charset=utf-8"]) {
      await assert.rejects(
        sql`select net.http_post('http://127.0.0.1:1/', headers := ${sql.json({ "Content-Type": type })})`,
        /Content-Type header must be "application\/json"/,
      );
    }
  } finally {
    await sql.end();
  }
});

// sql/pg_net.sql (net.http_post queues convert_to(null::text) = null); src/core.c (init_curl_handle: a POST
// without a body gets CURLOPT_POST with CURLOPT_POSTFIELDSIZE 0).
Deno.test("net.http_post accepts a null body and POSTs an empty one, still as JSON", async () => {
  const server = startEchoServer();
  const sql = db();
  try {
    const [{ id }] = await sql`select net.http_post(${server.url + "/no-body"}, body := null) as id`;
    const row = await responseOf(sql, id);
    assert.equal(row.status_code, 200);
    const [request] = server.received;
    assert.equal(request.method, "POST");
    assert.equal(request.body, "");
    assert.equal(request.headers.get("content-type"), "application/json");
  } finally {
    await sql.end();
    await server.close();
  }
});

// sql/pg_net.sql (net.http_post adds Content-Type with `headers || '{"Content-Type": …}'`, and null || x is
// null); src/core.c (a body goes in CURLOPT_POSTFIELDS, for which curl sends its default Content-Type,
// application/x-www-form-urlencoded, when the request names none).
Deno.test("net.http_post with null headers sends curl's default form Content-Type", async () => {
  const server = startEchoServer();
  const sql = db();
  try {
    const [{ id }] = await sql`select net.http_post(${server.url + "/bare"}, headers := null) as id`;
    await responseOf(sql, id);
    const [{ id: empty }] = await sql`
      select net.http_post(${server.url + "/bare-empty"}, body := null, headers := null) as id`;
    await responseOf(sql, empty);
    const [withBody, withoutBody] = server.received;
    assert.equal(withBody.headers.get("content-type"), "application/x-www-form-urlencoded");
    assert.deepEqual(JSON.parse(withBody.body), {});
    assert.equal(withoutBody.headers.get("content-type"), "application/x-www-form-urlencoded");
    assert.equal(withoutBody.body, "");
  } finally {
    await sql.end();
    await server.close();
  }
});

// src/core.c (init_curl_handle appends "User-Agent: pg_net/<version>" to the request's headers).
Deno.test("requests carry pg_net's User-Agent", async () => {
  const server = startEchoServer();
  const sql = db();
  try {
    const [{ id }] = await sql`select net.http_get(${server.url + "/ua"}) as id`;
    await responseOf(sql, id);
    assert.match(server.received[0].headers.get("user-agent") ?? "", /^pg_net\/\d+\.\d+/);
  } finally {
    await sql.end();
    await server.close();
  }
});

// src/core.c (insert_response stores content only when the body is not empty).
Deno.test("an empty response body is recorded as null content", async () => {
  const server = startEchoServer();
  const sql = db();
  try {
    const [{ id }] = await sql`select net.http_delete(${server.url + "/empty"}) as id`;
    const row = await responseOf(sql, id);
    assert.equal(row.status_code, 204);
    assert.equal(row.content, null);
    assert.equal(row.error_msg, null);
  } finally {
    await sql.end();
    await server.close();
  }
});

// src/core.c (CURLOPT_PROTOCOLS_STR "http,https": anything else fails with CURLE_UNSUPPORTED_PROTOCOL).
Deno.test("a URL that is not http(s) is refused by the worker as an unsupported protocol", async () => {
  const sql = db();
  try {
    const [{ id }] = await sql`select net.http_get('file:///etc/hostname') as id`;
    const row = await responseOf(sql, id);
    assert.equal(row.status_code, null);
    assert.equal(row.content, null);
    assert.equal(row.error_msg, "Unsupported protocol");
  } finally {
    await sql.end();
  }
});
