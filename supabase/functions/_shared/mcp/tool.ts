// The shape every MCP tool group follows (as in supabase-mcp): a definitions object per group — name →
// description, annotations, zod input and output schemas — and a factory that receives the group's
// dependencies and returns, for each name, how to run the tool and how to render its result as text.
//
//   export const fooToolDefs = { do_foo: { description, annotations, input, output } } as const satisfies ToolDefs;
//   export function getFooTools(ctx: ToolContext): ToolImpls<typeof fooToolDefs> { … }
//
// server.ts registers the groups; errors.ts is the one place a thrown error becomes an `isError` result.
import type { z } from "zod";
import type { Caller } from "../auth.ts";

export interface ToolAnnotations {
  title: string;
  /** Reads only: never changes a row. Such tools stay registered in read-only mode. */
  readOnlyHint: boolean;
  /** May delete or overwrite what the caller had. */
  destructiveHint: boolean;
  /** Calling again with the same input changes nothing more. */
  idempotentHint: boolean;
  /** Reaches beyond this project (an LLM provider, the internet). */
  openWorldHint: boolean;
}

export interface ToolDef {
  /** When to use the tool, and when not. */
  description: string;
  annotations: ToolAnnotations;
  input: z.ZodObject;
  output: z.ZodObject;
  /**
   * Output fields holding row data or model output ("field", "list[].field"): fenced in structuredContent as
   * in the text (untrusted.ts fenceFields), so a client passing structured results to a model passes them
   * as marked data too.
   */
  untrusted?: readonly string[];
}

export type ToolDefs = Record<string, ToolDef>;

export interface ToolImpl<D extends ToolDef> {
  /** Does the work; throws an Error whose message is one plain sentence for the caller. */
  execute(input: z.output<D["input"]>): Promise<z.input<D["output"]>>;
  /** The text content for the model: a short summary, untrusted row data fenced (see untrusted.ts). */
  render(output: z.input<D["output"]>): string;
}

export type ToolImpls<Defs extends ToolDefs> = { [Name in keyof Defs]: ToolImpl<Defs[Name]> };

/** What every tool factory receives. */
export interface ToolContext {
  /** Who is calling: all data access runs as this caller (RLS). */
  caller: Caller;
  /** The HTTP request's signal: the caller going away aborts LLM calls. */
  signal?: AbortSignal;
}
