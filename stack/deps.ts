// Every function's dependencies, resolved and cached before its process starts: `deno install --entrypoint`
// with the function's own deno.json and lockfile, run by the stack itself, whose environment carries the
// machine's proxy and certificate settings. Function processes then run with --cached-only: they never
// download anything (a fresh machine's first request would otherwise do it inside the function's restricted
// environment, and fail).
import { join } from "node:path";
import { ROOT } from "./config.ts";
import type { FunctionSpec } from "./functions.ts";
import { run } from "./process.ts";

const BOOT = join(ROOT, "stack", "runtime", "boot.ts");

/** What makes a function's resolution change: its import map / deno.json and its lockfile. */
async function fingerprint(spec: FunctionSpec): Promise<string> {
  const files = [...spec.resolutionArgs, ...spec.lockArgs]
    .map((arg) => arg.replace(/^--lock=/, ""))
    .filter((arg) => arg.startsWith("/"));
  const parts = await Promise.all(
    [...files, spec.entrypoint].map((file) =>
      Deno.stat(file).then((s) => `${file}:${s.mtime?.getTime()}:${s.size}`, () => file)
    ),
  );
  return parts.join("|");
}

export class DependencyCache {
  #done = new Map<string, string>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(private log: (line: string) => void) {}

  /** Caches the function's module graph (one function at a time; a no-op when nothing changed). */
  ensure(spec: FunctionSpec): Promise<void> {
    const next = this.#queue.then(async () => {
      const print = await fingerprint(spec);
      if (this.#done.get(spec.name) === print) return;
      const started = Date.now();
      try {
        await run(Deno.execPath(), [
          "install",
          "--quiet",
          "--entrypoint",
          ...spec.resolutionArgs,
          ...spec.lockArgs,
          BOOT,
          spec.entrypoint,
        ], { what: `caching the dependencies of function ${spec.name}`, cwd: spec.dir });
      } catch (error) {
        throw new Error(
          `${(error as Error).message}\n(Check the network, the proxy settings and ` +
            `supabase/functions/${spec.name}/deno.json; a changed deno.json may need its deno.lock updated.)`,
        );
      }
      const ms = Date.now() - started;
      if (ms > 2_000) this.log(`Cached the dependencies of ${spec.name} (${(ms / 1000).toFixed(1)} s)`);
      this.#done.set(spec.name, await fingerprint(spec));
    });
    this.#queue = next.catch(() => {});
    return next;
  }

  /** Forget what was cached (files changed). */
  invalidate(): void {
    this.#done.clear();
  }
}
