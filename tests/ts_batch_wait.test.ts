// How long a compile waits for other requests' to share a program (supabase/functions/_shared/ts_batch.ts): a
// compile whose request has other work in flight (fix-code-error's original, compiled while the retrieval runs)
// may wait longer than one on the request's path, but never holds that one up; a request alone never waits.
import assert from "node:assert/strict";
import { checkAll, checkOriginal, openBatching } from "../supabase/functions/_shared/ts_batch.ts";
import { SnippetService } from "../supabase/functions/_shared/ts_service.ts";

/** A module with one TS2322 (modules share programs); each n makes new code. */
const snippet = (n: number) => `export const value${n}: number = "${n}";\n`;
const first = (diagnostics: { code: string }[]) => diagnostics[0] as never ?? null;

/** Runs `fn` with `open` fix requests in progress and TS_BATCH_OVERLAPPED_WAIT_MS set to `overlappedMs`. */
async function withRequests(open: number, overlappedMs: number, fn: () => Promise<void>): Promise<void> {
  const saved = Deno.env.get("TS_BATCH_OVERLAPPED_WAIT_MS");
  Deno.env.set("TS_BATCH_OVERLAPPED_WAIT_MS", String(overlappedMs));
  const leave = Array.from({ length: open }, () => openBatching());
  try {
    await fn();
  } finally {
    for (const done of leave) done();
    if (saved === undefined) Deno.env.delete("TS_BATCH_OVERLAPPED_WAIT_MS");
    else Deno.env.set("TS_BATCH_OVERLAPPED_WAIT_MS", saved);
  }
}

Deno.test("ts batch: a compile on the request's path is not held up by a queued one that may wait longer", async () => {
  // Three requests in progress, two compiles queued (the third never comes): the overlapped original may wait a
  // minute, the other compile 3 ms; both are compiled together when the shorter wait is over.
  await withRequests(3, 60_000, async () => {
    const started = performance.now();
    const a = new SnippetService();
    const b = new SnippetService();
    const [original] = await Promise.all([
      checkOriginal(a, snippet(1), first, { overlapped: true }),
      checkAll(b, [snippet(2)]),
    ]);
    const ms = performance.now() - started;
    assert.ok(ms < 10_000, `the batch waited ${ms.toFixed(0)} ms`);
    assert.equal(original.target?.code, "TS2322");
    assert.equal(b.check(snippet(2)).program, original.original.program, "both in one program");
  });
});

Deno.test("ts batch: an overlapped original waits its own wait for others, and a request alone never waits", async () => {
  await withRequests(2, 400, async () => {
    const started = performance.now();
    const { target } = await checkOriginal(new SnippetService(), snippet(3), first, { overlapped: true });
    const ms = performance.now() - started;
    assert.equal(target?.code, "TS2322");
    assert.ok(ms >= 350, `it waited ${ms.toFixed(0)} ms for the other request's compile`);
  });
  await withRequests(1, 60_000, async () => {
    const started = performance.now();
    await checkOriginal(new SnippetService(), snippet(4), first, { overlapped: true });
    const ms = performance.now() - started;
    assert.ok(ms < 10_000, `alone, it waited ${ms.toFixed(0)} ms`);
  });
});
