// DNS rebinding protection for MCP on a loopback address (the MCP spec's security warning for local servers):
// a web page on evil.example whose name is made to resolve to 127.0.0.1 talks to the local endpoint as its
// own origin, so the browser lets it through; what gives it away is the Host (and Origin) it sends. When this
// project is served on loopback (SUPABASE_URL is http://127.0.0.1:… or localhost: the local stack,
// `supabase start`), requests must name a loopback host, and an Origin, when sent, must be a loopback one too.
// Hosted projects are reached by their public name, which no other site can rebind: nothing is checked there.
//
//   MCP_ALLOWED_HOSTS    more host names to accept on loopback (comma list, e.g. my-machine.local)
//   MCP_ALLOWED_ORIGINS  more origins to accept (comma list, e.g. http://my-machine.local:3000)
//
// The Host the caller used reaches a function as X-Forwarded-Host (the gateway in front of it sets it: the
// local stack's, Kong under `supabase start`), else as Host.
import { errorJson } from "../http.ts";

const LOOPBACK = ["localhost", "127.0.0.1", "[::1]"];

function list(name: string): string[] {
  return (Deno.env.get(name) ?? "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
}

function hostnameOf(url: string): string | null {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return null;
  }
}

/** Whether this project is served on a loopback address (where DNS rebinding is the threat). */
export function servedOnLoopback(): boolean {
  const host = hostnameOf(Deno.env.get("SUPABASE_URL") ?? "");
  return host !== null && (LOOPBACK.includes(host) || host.endsWith(".localhost"));
}

/** 403 when a loopback-served request names another host, or comes from another origin; else null. */
export function refuseRebinding(req: Request): Response | null {
  if (!servedOnLoopback()) return null;
  const hosts = [...LOOPBACK, ...list("MCP_ALLOWED_HOSTS")];
  const host = req.headers.get("x-forwarded-host") ?? req.headers.get("host") ?? "";
  const hostname = hostnameOf(`http://${host.split(",")[0].trim()}`);
  if (hostname === null || !hosts.includes(hostname)) {
    return errorJson(
      403,
      "invalid_host",
      `Host "${host}" is not this local server: on loopback it answers only to ${hosts.join(", ")} ` +
        "(protection against DNS rebinding; add names with MCP_ALLOWED_HOSTS).",
    );
  }
  const origin = req.headers.get("origin");
  if (origin !== null) {
    const originHost = hostnameOf(origin);
    const allowed = list("MCP_ALLOWED_ORIGINS").includes(origin.toLowerCase()) ||
      (originHost !== null && LOOPBACK.includes(originHost));
    if (!allowed) {
      return errorJson(
        403,
        "invalid_origin",
        `Origin "${origin}" may not call this local server (protection against DNS rebinding; add origins ` +
          "with MCP_ALLOWED_ORIGINS).",
      );
    }
  }
  return null;
}
