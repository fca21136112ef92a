// POST /functions/v1/mcp — this project's tools over the Model Context Protocol (Streamable HTTP, stateless,
// JSON responses): fix_code_error, find_similar_errors, generate_embedding, search_code_snippets,
// list_typescript_errors, queue_typescript_errors, submit_fix_feedback. See ../_shared/mcp/server.ts.
//
// Authenticated like every function: the gateway checks the JWT (verify_jwt = true) and every tool runs as
// the caller — a signed-in user (RLS: their own rows and the shared knowledge base) or the service role; the
// anon key alone gets 403. GET (a standalone SSE stream) and DELETE (sessions) get 405: the server is stateless.
//
//   MCP_READ_ONLY=true   register only the read-only tools
//   MCP_ALLOWED_HOSTS, MCP_ALLOWED_ORIGINS   more names than loopback ones, served locally (../_shared/mcp/host_check.ts)
import { requireUserOrService } from "../_shared/auth.ts";
import { route } from "../_shared/http.ts";
import { refuseRebinding } from "../_shared/mcp/host_check.ts";
import { handleMcpRequest, mcpPreflight, readOnlyFromEnv } from "../_shared/mcp/server.ts";

const serve = route(["POST"], async (req) => {
  // DNS rebinding (on loopback only): checked before anything else, credentials included.
  const refused = refuseRebinding(req);
  if (refused) return refused;
  const caller = await requireUserOrService(req);
  return await handleMcpRequest(req, { caller, readOnly: readOnlyFromEnv() });
});

Deno.serve((req) => req.method === "OPTIONS" ? mcpPreflight() : serve(req));
