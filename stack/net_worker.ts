// The worker behind the pg_net stand-in (stack/sql/pg_net_standin.sql): takes committed requests from
// net.http_request_queue, sends them concurrently, honouring each timeout_milliseconds, and records each
// outcome in net._http_response the way pg_net does (status, headers, body, timed_out, error_msg). What it
// sends and records follows pg_net's src/core.c (v0.20.4): init_curl_handle and insert_response.
// Woken by NOTIFY when a transaction that queued requests commits; also polls once a second. Paced like pg_net:
// at most 200 requests a batch and one batch a second.
import postgres from "postgres";

/** Like pg_net: at most 200 requests a batch, one batch a second (its worker sleeps ~1 s between batches). */
const BATCH = 200;
const PACE_MS = 1000;
const RESPONSE_TTL = "6 hours";

interface QueuedRequest {
  id: string;
  method: string;
  url: string;
  headers: Record<string, string> | null;
  body: Uint8Array | null;
  timeout_milliseconds: number;
}

interface Outcome {
  status_code: number | null;
  content_type: string | null;
  headers: Record<string, string> | null;
  content: string | null;
  timed_out: boolean;
  error_msg: string | null;
}

export interface NetWorker {
  /** Resolves when every request queued so far has a response row. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/** pg_net's User-Agent, sent after the request's own headers (src/core.c). */
const USER_AGENT = "pg_net/0.20.4";

export async function send(request: QueuedRequest): Promise<Outcome> {
  const failed = (error_msg: string, timed_out = false): Outcome => ({
    status_code: null,
    content_type: null,
    headers: null,
    content: null,
    timed_out,
    error_msg,
  });
  // curl is limited to these protocols (CURLOPT_PROTOCOLS_STR "http,https"); curl_easy_strerror's words.
  if (!/^https?:\/\//i.test(request.url)) return failed("Unsupported protocol");
  const method = request.method.toUpperCase();
  const headers = new Headers(request.headers ?? {});
  if (!headers.has("user-agent")) headers.set("user-agent", USER_AGENT);
  // A POST without a body is still a POST with an empty body (CURLOPT_POSTFIELDSIZE 0); GET and DELETE send
  // a body only when there is one.
  const body = request.body
    ? new Uint8Array(request.body)
    : method === "POST"
    ? new Uint8Array(0)
    : undefined;
  // A body goes in CURLOPT_POSTFIELDS, for which curl sends its default Content-Type unless one is named.
  if (body && !headers.has("content-type")) headers.set("content-type", "application/x-www-form-urlencoded");
  const started = performance.now();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), request.timeout_milliseconds);
  try {
    const response = await fetch(request.url, { method, headers, body, signal: controller.signal });
    const content = await response.text();
    return {
      status_code: response.status,
      content_type: response.headers.get("content-type"),
      headers: Object.fromEntries(response.headers.entries()),
      content: content === "" ? null : content, // an empty body is recorded as null
      timed_out: false,
      error_msg: null,
    };
  } catch (error) {
    const elapsed = (performance.now() - started).toFixed(1);
    if (controller.signal.aborted) {
      return failed(`Timeout of ${request.timeout_milliseconds} ms reached. Total time: ${elapsed} ms`, true);
    }
    // fetch reports "fetch failed"; the reason (refused, DNS, TLS) is in its cause. pg_net records
    // curl_easy_strerror's sentence for the curl code.
    const reasons: string[] = [];
    for (let e: unknown = error; e instanceof Error && reasons.length < 4; e = e.cause) {
      reasons.push(e.message);
    }
    const cause = reasons.join(": ") || String(error);
    if (/dns|resolve|lookup|not known/i.test(cause)) return failed("Couldn't resolve host name");
    if (/refused|connect/i.test(cause)) return failed("Couldn't connect to server");
    return failed(`Request failed: ${cause}`);
  } finally {
    clearTimeout(timer);
  }
}

export async function startNetWorker(
  databaseUrl: string,
  log: (line: string) => void = () => {},
): Promise<NetWorker> {
  const sql = postgres(databaseUrl, { max: 4, onnotice: () => {} });
  const inFlight = new Set<Promise<void>>();
  let stopped = false;
  let draining: Promise<void> | null = null;
  let again = false;

  async function record(request: QueuedRequest): Promise<void> {
    const outcome = await send(request);
    try {
      await sql`
        insert into net._http_response (id, status_code, content_type, headers, content, timed_out, error_msg)
        values (${request.id}, ${outcome.status_code}, ${outcome.content_type}, ${sql.json(outcome.headers)},
                ${outcome.content}, ${outcome.timed_out}, ${outcome.error_msg})`;
    } catch (error) {
      log(`pg_net stand-in: could not record response ${request.id}: ${(error as Error).message}`);
    }
  }

  let lastBatchAt = 0;

  async function drainOnce(): Promise<number> {
    // pg_net's pacing, so that a design that depends on pg_net's request rate is measured as it would run.
    const wait = lastBatchAt + PACE_MS - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // And never more than BATCH in flight (nor more sockets than the process may open).
    while (inFlight.size >= BATCH) await Promise.race(inFlight);
    const requests = await sql<QueuedRequest[]>`
      delete from net.http_request_queue
      where id in (select id from net.http_request_queue order by id limit ${BATCH} for update skip locked)
      returning id, method, url, headers, body, timeout_milliseconds`;
    if (requests.length > 0) lastBatchAt = Date.now();
    for (const request of requests) {
      const task = record(request).finally(() => inFlight.delete(task));
      inFlight.add(task);
    }
    return requests.length;
  }

  function drain(): Promise<void> {
    if (draining) {
      again = true;
      return draining;
    }
    draining = (async () => {
      do {
        again = false;
        try {
          while (!stopped && (await drainOnce()) > 0);
        } catch (error) {
          if (!stopped) log(`pg_net stand-in: ${(error as Error).message}`);
        }
      } while (again && !stopped);
    })().finally(() => draining = null);
    return draining;
  }

  await sql.listen("net_http_request_queue", () => void drain());
  const poll = setInterval(() => void drain(), 1000);
  const cleanup = setInterval(() => {
    sql`delete from net._http_response where created < now() - ${RESPONSE_TTL}::interval`.catch(() => {});
  }, 10 * 60 * 1000);
  void drain();

  return {
    async idle() {
      while (true) {
        await drain();
        await Promise.all([...inFlight]);
        const [{ n }] = await sql`select count(*)::int as n from net.http_request_queue`;
        if (n === 0 && inFlight.size === 0) return;
      }
    },
    async stop() {
      stopped = true;
      clearInterval(poll);
      clearInterval(cleanup);
      await draining;
      await Promise.allSettled([...inFlight]);
      await sql.end({ timeout: 2 });
    },
  };
}
