// A private PostgreSQL installation for tests: the system's PostgreSQL seen through a folder of links, plus
// extra extension files that only this installation offers. PostgreSQL finds its share and lib folders
// relative to its own binaries, so a stack started with `pgBin` pointing here (StackConfig.pgBin) sees these
// extensions and nothing else on the machine does — other stacks and other people's tests are not affected.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { PG_BIN, PG_MAJOR } from "../stack/config.ts";

export interface ExtraFiles {
  /** Files for the share folder's `extension/` (control and SQL scripts), by name. */
  extension?: Record<string, string>;
  /** Shared libraries for the lib folder, by name → path of the file to copy. */
  lib?: Record<string, string>;
}

/** Creates the installation under `dir` and returns its bin folder (for StackConfig.pgBin). */
export async function privatePostgres(dir: string, extra: ExtraFiles = {}): Promise<string> {
  const bin = join(dir, "usr", "lib", "postgresql", String(PG_MAJOR), "bin");
  const lib = join(bin, "..", "lib");
  const share = join(dir, "usr", "share", "postgresql", String(PG_MAJOR));
  const systemLib = join(PG_BIN, "..", "lib");
  const systemShare = `/usr/share/postgresql/${PG_MAJOR}`;
  for (const d of [bin, lib, join(share, "extension")]) await Deno.mkdir(d, { recursive: true });
  // Binaries must be files here (a symlink would be followed back to the system's folders): hard links.
  for (const entry of Deno.readDirSync(PG_BIN)) {
    const target = join(bin, entry.name);
    if (!existsSync(target)) await Deno.link(join(PG_BIN, entry.name), target);
  }
  for (const entry of Deno.readDirSync(systemLib)) {
    const target = join(lib, entry.name);
    if (!existsSync(target)) await Deno.symlink(join(systemLib, entry.name), target);
  }
  for (const entry of Deno.readDirSync(systemShare)) {
    if (entry.name === "extension") continue;
    const target = join(share, entry.name);
    if (!existsSync(target)) await Deno.symlink(join(systemShare, entry.name), target);
  }
  for (const entry of Deno.readDirSync(join(systemShare, "extension"))) {
    const target = join(share, "extension", entry.name);
    if (!existsSync(target)) await Deno.symlink(join(systemShare, "extension", entry.name), target);
  }
  for (const [name, text] of Object.entries(extra.extension ?? {})) {
    await Deno.writeTextFile(join(share, "extension", name), text);
  }
  for (const [name, from] of Object.entries(extra.lib ?? {})) await Deno.copyFile(from, join(lib, name));
  // As root the server runs as `postgres`, which must be able to read all of it.
  await Deno.chmod(dir, 0o755);
  return bin;
}
