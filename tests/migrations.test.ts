// Migrations are applied in version order by `supabase db push` and tracked by version: two files with one version
// cannot both be applied (the second fails with a duplicate key), so every version must be unique.
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../stack/config.ts";

Deno.test("every migration has its own version (timestamp)", async () => {
  const versions = new Map<string, string[]>();
  for await (const entry of Deno.readDir(join(ROOT, "supabase", "migrations"))) {
    if (!entry.name.endsWith(".sql")) continue;
    const version = entry.name.match(/^(\d{14})_[a-z0-9_]+\.sql$/)?.[1];
    assert.ok(version, `${entry.name} is named <14-digit timestamp>_<name>.sql`);
    versions.set(version, [...versions.get(version) ?? [], entry.name]);
  }
  const clashes = [...versions.values()].filter((names) => names.length > 1);
  assert.deepEqual(clashes, [], "versions used twice");
});
