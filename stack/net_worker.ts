// The worker behind the pg_net stand-in (stack/sql/pg_net_standin.sql): takes committed requests from
// net.http_request_queue, sends them concurrently, honouring each timeout_milliseconds, and records each
// outcome in net._http_response the way pg_net does (status, headers, body, timed_out, error_msg).
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

export async function send(request: QueuedRequest): Promise<Outcome> {
  const started = performance.now();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), request.timeout_milliseconds);
  try {
    const response = await fetch(request.url, {
      method: request.method.toUpperCase(),
      headers: request.headers ?? {},
      body: request.body && request.method.toUpperCase() !== "GET" ? new Uint8Array(request.body) : undefined,
      signal: controller.signal,
    });
    const content = await response.text();
    return {
      status_code: response.status,
      content_type: response.headers.get("content-type"),
      headers: Object.fromEntries(response.headers.entries()),
      content,
      timed_out: false,
      error_msg: null,
    };
  } catch (error) {
    const elapsed = (performance.now() - started).toFixed(1);
    if (controller.signal.aborted) {
      return {
        status_code: null,
        content_type: null,
        headers: null,
        content: null,
        timed_out: true,
        error_msg: `Timeout of ${request.timeout_milliseconds} ms reached. Total time: ${elapsed} ms`,
      };
    }
    // fetch reports "fetch failed"; the reason (refused, DNS, TLS) is in its cause.
    const reasons: string[] = [];
    for (let e: unknown = error; e instanceof Error && reasons.length < 4; e = e.cause) {
      reasons.push(e.message);
    }
    const cause = reasons.join(": ") || String(error);
    const refused = /refused|connect/i.test(cause);
    return {
      status_code: null,
      content_type: null,
      headers: null,
      content: null,
      timed_out: false,
      error_msg: refused ? `Couldn't connect to server (${cause})` : `Request failed: ${cause}`,
    };
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
