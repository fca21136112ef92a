// MCP tools that look things up by meaning: find_similar_errors (past fixes, the knowledge base included),
// search_code_snippets (the caller's snippets) and generate_embedding (the vector itself). All read-only.
import { z } from "zod";
import { parseError } from "../code_fix.ts";
import { asCaller, toVector } from "../db.ts";
import { embed, EMBEDDING_DIMS, EMBEDDING_MODEL } from "../embeddings.ts";
import { retrieveSimilarFixes } from "../similar_fixes.ts";
import type { ToolContext, ToolDefs, ToolImpls } from "./tool.ts";
import { fence, oneLine, untrustedBlock } from "./untrusted.ts";

const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };

export const retrievalToolDefs = {
  find_similar_errors: {
    description: "Looks up past fixes of TypeScript errors similar to yours — the built-in knowledge base " +
      "of common diagnostics plus your own earlier fixes — nearest first, fixes of the same error code " +
      "first. Use it to show how an error was fixed before, or to explain an error. It does not fix your " +
      "code (use fix_code_error for that) and never changes anything.",
    annotations: { title: "Find similar past errors", ...READ_ONLY },
    untrusted: ["matches[].error_message", "matches[].code_snippet", "matches[].suggested_fix"],
    input: z.object({
      error: z.string().trim().min(1).max(4_000).describe(
        "The compiler's message, with or without its TSxxxx code.",
      ),
      code: z.string().max(50_000).optional().describe(
        "The code with the error; makes the match much better when given.",
      ),
      error_code: z.string().regex(/^(TS)?\d{3,5}$/i, "must look like TS2322").optional().describe(
        "The diagnostic code, e.g. TS2322; read from `error` when omitted.",
      ),
      match_count: z.number().int().min(1).max(20).default(5).describe("How many fixes to return (1–20)."),
      min_similarity: z.number().min(0).max(1).default(0).describe(
        "Leave out matches below this cosine similarity.",
      ),
      same_code_only: z.boolean().default(false).describe(
        "Only fixes of the same error code (otherwise other codes fill up the list).",
      ),
    }),
    output: z.object({
      error_code: z.string().nullable().describe("The error code searched for."),
      matches: z.array(z.object({
        id: z.string(),
        error_code: z.string().nullable(),
        error_message: z.string().nullable(),
        code_snippet: z.string().describe("The code that had the error (untrusted data)."),
        suggested_fix: z.string().describe("The fixed code (untrusted data)."),
        similarity: z.number().describe("Cosine similarity to your error, 0–1."),
        status: z.string().describe("suggested or accepted."),
        verified: z.boolean().describe("The compiler verified this fix for its own code."),
        knowledge_base: z.boolean().describe("A built-in knowledge-base entry rather than a past fix."),
      })),
    }),
  },
  search_code_snippets: {
    description: "Searches your stored code snippets (table code_snippets) by meaning and returns the " +
      "nearest ones. Use it to find code you saved earlier that is about something; it only sees your own " +
      "snippets and never changes anything. Not for error fixes (use find_similar_errors).",
    annotations: { title: "Search code snippets", ...READ_ONLY },
    untrusted: ["snippets[].content", "snippets[].metadata"],
    input: z.object({
      query: z.string().trim().min(1).max(20_000).describe("What to look for: words or a piece of code."),
      match_count: z.number().int().min(1).max(50).default(5).describe("How many snippets (1–50)."),
      min_similarity: z.number().min(0).max(1).default(0).describe(
        "Leave out snippets below this similarity.",
      ),
    }),
    output: z.object({
      snippets: z.array(z.object({
        id: z.string(),
        content: z.string().describe("The snippet (untrusted data)."),
        language: z.string(),
        similarity: z.number(),
        metadata: z.record(z.string(), z.unknown()),
      })),
    }),
  },
  generate_embedding: {
    description: "Returns the embedding vector (384 numbers, unit length) of a text, from the same model " +
      "the database uses for its automatic embeddings. Use it only when you need the raw vector, e.g. to " +
      "compare texts yourself; to search, use find_similar_errors or search_code_snippets instead.",
    annotations: { title: "Embed a text", ...READ_ONLY },
    input: z.object({
      text: z.string().trim().min(1).max(20_000).describe("The text to embed."),
    }),
    output: z.object({
      embedding: z.array(z.number()).describe("The vector."),
      model: z.string().describe("The embedding model."),
      dims: z.number().int().describe("Its length."),
    }),
  },
} as const satisfies ToolDefs;

export function getRetrievalTools({ caller }: ToolContext): ToolImpls<typeof retrievalToolDefs> {
  return {
    find_similar_errors: {
      async execute(input) {
        const { code, message } = parseError(input.error, input.error_code);
        const { similar } = await retrieveSimilarFixes(caller, code, message, input.code ?? "", {
          count: input.match_count,
          minSimilarity: input.min_similarity,
          anyCode: !input.same_code_only,
        });
        const matches = similar.map(({ provider, ...row }) => ({
          ...row,
          knowledge_base: provider === "knowledge-base",
        }));
        return { error_code: code, matches };
      },
      render(out) {
        if (out.matches.length === 0) {
          return `No similar past fixes found for ${out.error_code ?? "this error"}.`;
        }
        const body = out.matches.map((m, i) =>
          [
            `${i + 1}. ${m.error_code ?? "?"}: ${oneLine(m.error_message)}`,
            `   similarity ${m.similarity.toFixed(2)}, ${m.status}${m.verified ? ", verified" : ""}${
              m.knowledge_base ? ", knowledge base" : ""
            }, id ${m.id}`,
            "Before:",
            fence(m.code_snippet),
            "After:",
            fence(m.suggested_fix),
          ].join("\n")
        ).join("\n\n");
        return [
          `${out.matches.length} past fix(es) for ${out.error_code ?? "this error"}, most similar first.`,
          untrustedBlock(body, "past errors and their fixes from the database"),
        ].join("\n");
      },
    },
    search_code_snippets: {
      async execute(input) {
        const [vector] = await embed([input.query]);
        const rows = await asCaller(
          caller,
          (tx) =>
            tx<{ id: string; content: string; language: string; similarity: number; metadata: unknown }[]>`
            select id, content, language, similarity, metadata
            from public.search_code_snippets(${toVector(vector)}::extensions.vector, ${input.match_count},
                                             ${input.min_similarity})`,
        );
        return {
          snippets: rows.map((r) => ({
            id: r.id,
            content: r.content,
            language: r.language,
            similarity: Math.round(Number(r.similarity) * 1e4) / 1e4,
            metadata: (r.metadata ?? {}) as Record<string, unknown>,
          })),
        };
      },
      render(out) {
        if (out.snippets.length === 0) {
          return "No snippets found (only snippets you own and that are already embedded are searched).";
        }
        const body = out.snippets.map((s, i) =>
          [
            `${i + 1}. snippet ${s.id} (${s.language}, similarity ${s.similarity.toFixed(2)})`,
            fence(s.content, s.language.replace(/[^a-z0-9+#-]/gi, "")),
          ].join("\n")
        ).join("\n\n");
        return [
          `${out.snippets.length} snippet(s), most similar first.`,
          untrustedBlock(body, "stored code snippets"),
        ].join("\n");
      },
    },
    generate_embedding: {
      async execute(input) {
        const [embedding] = await embed([input.text]);
        return { embedding, model: EMBEDDING_MODEL, dims: EMBEDDING_DIMS };
      },
      render(out) {
        return `Embedding from ${out.model} (${out.dims} dimensions):\n${JSON.stringify(out.embedding)}`;
      },
    },
  };
}
