// The one place where a tool's failure becomes an MCP result with `isError: true` (as supabase-mcp's
// mcp-utils does): tools throw a ToolError with a plain sentence; here it gets the tool's name in front. Our
// own HTTP errors (rate limits, budgets, …) and a refused model keep their message. Everything else — a
// database driver error, an upstream LLM failure, a configuration problem, a bug — is logged with an id and
// reported by kind only, without its raw text (which may hold URLs, settings or an upstream's body).
//
// Input that fails a tool's schema never gets here: the SDK rejects it first (isError, "MCP error -32602 …").
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { llmFailureMessage, logWithId } from "../http.ts";
import { fenceFields } from "./untrusted.ts";

/** An error whose message is one plain sentence written for the caller. */
export class ToolError extends Error {
  override name = "ToolError";
}

/** Errors whose message is written for the caller. */
const CALLER_FACING = new Set(["HttpError", "ToolError", "ModelNotAllowedError"]);

/** A sentence for the caller: the error's own when it is written for them, else its kind and an error id. */
function callerMessage(tool: string, error: unknown): string {
  if (error instanceof Error && CALLER_FACING.has(error.name) && error.message.trim()) {
    return error.message.trim();
  }
  const id = logWithId(error, `mcp ${tool}`);
  switch ((error as Error)?.name) {
    case "LlmError":
      return llmFailureMessage(error as Error, id);
    case "LlmConfigError":
      return `The LLM is not configured correctly; the server log says what to fix (error id ${id}).`;
    case "EmbeddingModelError":
      return `The embedding model is not available (error id ${id}).`;
  }
  return `Something went wrong on our side (error id ${id}).`;
}

export function toolError(tool: string, error: unknown): CallToolResult {
  return {
    isError: true,
    content: [{ type: "text", text: `${tool} failed: ${callerMessage(tool, error)}` }],
  };
}

/**
 * Runs one tool call: its rendering as text and its structured result (the `untrusted` fields fenced), or the
 * error result.
 */
export async function runTool<T extends Record<string, unknown>>(
  tool: string,
  execute: () => Promise<T>,
  render: (output: T) => string,
  untrusted: readonly string[] = [],
): Promise<CallToolResult> {
  try {
    const output = await execute();
    return {
      content: [{ type: "text", text: render(output) }],
      structuredContent: fenceFields(output, untrusted),
    };
  } catch (error) {
    return toolError(tool, error);
  }
}
