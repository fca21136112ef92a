// The undo journal of `deno task fix --apply`: before the first fix of a run touches a file, its content is
// kept in <project>/.fix-undo.json (with what the run wrote, updated after every applied fix), so that
// `deno task fix --undo` puts back every file of the last run that wrote something. A file changed since the
// run (by hand, by another tool) is left alone and reported, never overwritten.
import { join } from "node:path";
import { CliError } from "./errors.ts";

export const UNDO_FILE = ".fix-undo.json";

interface JournalFile {
  /** Path relative to the project root. */
  file: string;
  before: string;
  after: string;
}

interface Journal {
  version: 1;
  run_at: string;
  files: JournalFile[];
}

export interface UndoReport {
  run_at: string | null;
  restored: string[];
  /** Files changed since the run: left as they are. */
  conflicts: string[];
  /** Files already back to what they were before the run. */
  unchanged: string[];
}

/** Records the files one run writes; the journal on disk replaces the previous run's at the first write. */
export class UndoJournal {
  #journal: Journal = { version: 1, run_at: new Date().toISOString(), files: [] };
  #path: string;

  constructor(readonly root: string) {
    this.#path = join(root, UNDO_FILE);
  }

  /** Call before writing `after` over `before` in `file` (relative path); saves the journal first. */
  async record(file: string, before: string, after: string): Promise<void> {
    const entry = this.#journal.files.find((f) => f.file === file);
    if (entry) entry.after = after;
    else this.#journal.files.push({ file, before, after });
    await this.#save();
  }

  /** A file written back to what it was (a rolled-back fix): no longer part of the run's changes. */
  async forget(file: string, content: string): Promise<void> {
    const entry = this.#journal.files.find((f) => f.file === file);
    if (!entry) return;
    if (entry.before === content) this.#journal.files = this.#journal.files.filter((f) => f !== entry);
    else entry.after = content;
    await this.#save();
  }

  get written(): number {
    return this.#journal.files.length;
  }

  async #save(): Promise<void> {
    if (this.#journal.files.length === 0) return; // a run that writes nothing keeps the last run's undo
    const tmp = `${this.#path}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(this.#journal, null, 2) + "\n");
    await Deno.rename(tmp, this.#path);
  }
}

/** Restores the files of the last run that wrote something; removes the journal when all are back. */
export async function undoLastRun(root: string): Promise<UndoReport> {
  const path = join(root, UNDO_FILE);
  let journal: Journal;
  try {
    journal = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CliError(
        `Nothing to undo: no ${UNDO_FILE} in ${root} (no --apply run wrote a file here).`,
        1,
      );
    }
    throw new CliError(`Cannot read ${path}: ${(error as Error).message}`, 1);
  }
  const report: UndoReport = { run_at: journal.run_at, restored: [], conflicts: [], unchanged: [] };
  for (const f of journal.files) {
    const target = join(root, f.file);
    let now: string | null;
    try {
      now = await Deno.readTextFile(target);
    } catch {
      now = null;
    }
    if (now === f.before) report.unchanged.push(f.file);
    else if (now === f.after) {
      await Deno.writeTextFile(target, f.before);
      report.restored.push(f.file);
    } else report.conflicts.push(f.file);
  }
  if (report.conflicts.length === 0) await Deno.remove(path);
  return report;
}
