/**
 * Fixes without an LLM, in the order fix-code-error tries them (ARCHITECTURE.md, flow 2):
 *
 *   1. TypeScript's own code fixes for the diagnostic (the language service's getCodeFixesAtPosition: a
 *      misspelt name, a missing `await` or `async`, a missing property or member, an inferred parameter type…),
 *      source "compiler";
 *   2. past fixes of the same error code (retrieval, most similar first) adapted to the user's code
 *      (adapt_fix.ts), source "retrieval".
 *
 * Each candidate is checked by verifyFix against the user's code with the request's SnippetService (the
 * original is compiled once, each candidate once, in a program shared with other requests' snippets where it
 * may: ts_batch.ts); the first that passes every rule wins. Candidates that fail are returned too, with their
 * verdict, so the caller can say what was tried.
 */
import { adaptPastFix } from "./adapt_fix.ts";
import { checkAll } from "./ts_batch.ts";
import type { CheckedSnippet, CompilerFix, SnippetService } from "./ts_service.ts";
import type { Diagnostic } from "./typescript.ts";
import { verifyFix, type VerifyFixResult } from "./verify_fix.ts";

export interface PastFix {
  id: string;
  error_code: string | null;
  code_snippet: string;
  suggested_fix: string;
  similarity: number;
}

export interface Candidate {
  source: "compiler" | "retrieval";
  /** The compiler's fix name (`fixSpelling` …) or the past fix's id. */
  name: string;
  description: string;
  fix: string;
  check: VerifyFixResult;
  /** The past fix a retrieval candidate was adapted from. */
  past: PastFix | null;
}

/** Past fixes of the same code adapted and verified, at most this many (each verification compiles once). */
const MAX_PAST_FIXES = 3;

export interface LocalFixInput {
  code: string;
  errorCode: string;
  errorMessage: string;
  service: SnippetService;
  original: CheckedSnippet;
  target: Diagnostic;
  /** TypeScript's code fixes for the target (ts_batch.ts checkOriginal), not verified yet. */
  fixes: CompilerFix[];
}

async function check(input: LocalFixInput, fixedCode: string): Promise<VerifyFixResult> {
  await checkAll(input.service, [fixedCode]);
  return verifyFix({
    code: input.code,
    fixedCode,
    errorCode: input.errorCode,
    errorMessage: input.errorMessage,
    service: input.service,
  });
}

/** TypeScript's code fixes for the target, verified; stops at the first verified one. */
export async function compilerCandidates(input: LocalFixInput): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for (const fix of input.fixes) {
    const result = await check(input, fix.code);
    out.push({
      source: "compiler",
      name: fix.fixName,
      description: fix.description,
      fix: fix.code,
      check: result,
      past: null,
    });
    if (result.verified) break;
  }
  return out;
}

/** Past fixes of the same error code adapted to the user's code, verified; stops at the first verified one. */
export async function adaptedCandidates(input: LocalFixInput, similar: PastFix[]): Promise<Candidate[]> {
  const out: Candidate[] = [];
  const past = similar.filter((s) => s.error_code === input.errorCode).slice(0, MAX_PAST_FIXES);
  for (const p of past) {
    for (const fixedCode of adaptPastFix(p, input.code, input.target)) {
      const result = await check(input, fixedCode);
      out.push({
        source: "retrieval",
        name: p.id,
        description: `the past fix ${p.id} (similarity ${p.similarity.toFixed(2)}) adapted to this code`,
        fix: fixedCode,
        check: result,
        past: p,
      });
      if (result.verified) return out;
    }
  }
  return out;
}

/** The first verified fix without an LLM (compiler first, then adapted past fixes), and everything tried. */
export async function localFix(
  input: LocalFixInput,
  similar: PastFix[],
): Promise<{ chosen: Candidate | null; tried: Candidate[] }> {
  const tried = await compilerCandidates(input);
  let chosen = tried.find((c) => c.check.verified) ?? null;
  if (!chosen) {
    const adapted = await adaptedCandidates(input, similar);
    tried.push(...adapted);
    chosen = adapted.find((c) => c.check.verified) ?? null;
  }
  return { chosen, tried };
}
