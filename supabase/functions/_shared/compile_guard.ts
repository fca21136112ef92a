// The compiler on input it cannot finish: a check stops after TS_COMPILE_TIME_LIMIT_MS (5 s by
// default), and the code is quarantined (ai.compile_quarantine: a hash, never the code), so the same input is
// refused at once next time, on any instance, instead of tying up a function again. Callers get 422
// code_too_complex naming the field. Quarantined entries are released by ai.housekeeping() after
// `retention.compile_quarantine` (30 days), or by deleting the row.
import { createHash } from "node:crypto";
import { db, runStep, type Step } from "./db.ts";
import { HttpError } from "./http.ts";
import { CompileTimeoutError } from "./typescript.ts";

function hashOf(fileName: string, code: string): string {
  return createHash("sha256").update(`${fileName}\n${code}`).digest("hex");
}

function tooComplex(field: string, limitMs: number | null): HttpError {
  return new HttpError(
    422,
    "code_too_complex",
    `${field}: the TypeScript compiler could not check this code within ${
      limitMs === null ? "its time limit" : `${limitMs} ms`
    }; it is quarantined and will not be compiled again. Send a smaller part of the file.`,
    { field },
  );
}

/** The quarantine's check of input from a caller, to send with other statements: 422 when quarantined. */
export function quarantineStep(code: string, fileName: string, field: string): Step<void> {
  const hash = hashOf(fileName, code);
  return {
    query: (sql) =>
      sql`update ai.compile_quarantine set hits = hits + 1, last_seen_at = now() where hash = ${hash} returning ms`,
    read: ([seen]) => {
      if (seen) throw tooComplex(field, null);
    },
  };
}

/**
 * Compiles input from a caller (`compile` does it; `field` names the input in the error): refused at once when
 * quarantined (unless `checked`: quarantineStep was read already); quarantined when the compiler runs out of time
 * on it.
 */
export async function guardCompile<T>(
  code: string,
  fileName: string,
  field: string,
  compile: () => T | Promise<T>,
  { checked = false }: { checked?: boolean } = {},
): Promise<T> {
  if (!checked) await runStep(quarantineStep(code, fileName, field));
  try {
    return await compile();
  } catch (error) {
    if (!(error instanceof CompileTimeoutError)) throw error;
    await db()`
      insert into ai.compile_quarantine (hash, chars, ms) values (${
      hashOf(fileName, code)
    }, ${code.length}, ${error.elapsedMs})
      on conflict (hash) do update set hits = ai.compile_quarantine.hits + 1, last_seen_at = now()`;
    throw tooComplex(field, error.limitMs);
  }
}
