// The one place where a tool's failure becomes an MCP result with `isError: true` (as supabase-mcp's
// mcp-utils does): tools throw a plain sentence; here it gets the tool's name in front. Our own HTTP errors
// (rate limits, …) and the shared modules' named errors keep their message. Anything else — a database driver
// error, a bug — is logged with an id and reported as our fault, without its raw text.
//
// Input that fails a tool's schema never gets here: the SDK rejects it first (isError, "MCP error -32602 …").
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";

/** Errors whose message is written for the caller. */
const CALLER_FACING = new Set([
  "Error",
  "HttpError",
  "ToolError",
  "ModelNotAllowedError",
  "LlmError",
  "LlmConfigError",
  "EmbeddingModelError",
]);

/** A sentence for the caller, or null when the error is our fault and must not be shown as is. */
function callerMessage(error: unknown): string | null {
  if (!(error instanceof Error)) return null;
  // postgres.js errors are plain Errors too, named PostgresError; they carry driver text, never shown.
  if (!CALLER_FACING.has(error.name) || "severity" in error) return null;
  return error.message.trim() || null;
}

export function toolError(tool: string, error: unknown): CallToolResult {
  let message = callerMessage(error);
  if (message === null) {
    const id = crypto.randomUUID();
    console.error(`[mcp ${tool} ${id}]`, error);
    message = `Something went wrong on our side (error id ${id}).`;
  }
  return { isError: true, content: [{ type: "text", text: `${tool} failed: ${message}` }] };
}

/** Runs one tool call: its structured result with its rendering as text, or the error result. */
export async function runTool<T extends Record<string, unknown>>(
  tool: string,
  execute: () => Promise<T>,
  render: (output: T) => string,
): Promise<CallToolResult> {
  try {
    const output = await execute();
    return { content: [{ type: "text", text: render(output) }], structuredContent: output };
  } catch (error) {
    return toolError(tool, error);
  }
}
