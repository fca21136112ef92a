// One side of bench/llm_client.ts, in a fresh process: `--client=sdk` (the `openai` npm SDK, as the
// functions used it until it was replaced) or `--client=thin` (supabase/functions/_shared/llm.ts, the fetch
// client the functions use now). Prints one JSON line: the import time, the heap after the import and, with
// `--calls`, the time per call against the fake server at `--base-url`.
//
// No static imports, so that the import measured is the first thing this process loads. The SDK is imported
// through a variable specifier: neither `deno check` nor the lockfile learns of it (run with --no-lock).

export {}; // a module (top-level await)

const args = Object.fromEntries(
  Deno.args.map((a) => a.replace(/^--/, "").split("=")).map(([k, v]) => [k, v ?? "true"]),
);
const client = args.client;
if (client !== "sdk" && client !== "thin") throw new Error("--client=sdk|thin");

const SDK = "npm:openai@7.57.0";
const THIN = new URL("../supabase/functions/_shared/llm.ts", import.meta.url).href;

const t0 = performance.now();
const mod = await import(client === "sdk" ? SDK : THIN);
const importMs = performance.now() - t0;
const heapMb = Deno.memoryUsage().heapUsed / 1024 / 1024;

type Message = { role: "user"; content: string };
/** What both clients get asked: one chat (JSON) and one stream, drained. */
interface Caller {
  chat(messages: Message[]): Promise<string>;
  stream(messages: Message[]): Promise<string>;
}

/** The subset of the SDK's client this bench calls (it is not type-checked: see the header). */
interface SdkClient {
  chat: {
    completions: {
      create(body: Record<string, unknown>): Promise<
        & { choices: { message?: { content?: string | null } }[] }
        & AsyncIterable<{ choices: { delta?: { content?: string | null } }[] }>
      >;
    };
  };
}

function caller(baseURL: string): Caller {
  if (client === "sdk") {
    const OpenAI = mod.default as new (options: Record<string, unknown>) => SdkClient;
    // As _shared/llm_openai.ts configured it before the SDK was replaced.
    const sdk = new OpenAI({
      baseURL,
      apiKey: "sk-bench",
      organization: null,
      project: null,
      timeout: 60_000,
      maxRetries: 2,
    });
    return {
      async chat(messages) {
        const completion = await sdk.chat.completions.create({ model: "fake-model", messages });
        return completion.choices[0]?.message?.content ?? "";
      },
      async stream(messages) {
        const chunks = await sdk.chat.completions.create({
          model: "fake-model",
          messages,
          stream: true,
          stream_options: { include_usage: true },
        });
        let text = "";
        for await (const chunk of chunks) text += chunk.choices[0]?.delta?.content ?? "";
        return text;
      },
    };
  }
  const { createLlm, drainLlmStream, loadLlmConfig } =
    mod as typeof import("../supabase/functions/_shared/llm.ts");
  const llm = createLlm(
    loadLlmConfig(
      new Map([
        ["LLM_PROVIDER", "openai-compatible"],
        ["LLM_BASE_URL", baseURL],
        ["LLM_API_KEY", "sk-bench"],
        ["LLM_MODEL", "fake-model"],
      ]),
    )!,
  );
  return {
    async chat(messages) {
      return (await llm.chat({ messages })).text;
    },
    async stream(messages) {
      return (await drainLlmStream(await llm.stream({ messages }))).text;
    },
  };
}

async function perCall(
  n: number,
  call: () => Promise<string>,
): Promise<{ p50: number; p90: number; mean: number }> {
  for (let i = 0; i < Math.min(30, n); i++) await call(); // warm-up: connections, JIT
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const text = await call();
    times.push(performance.now() - t);
    if (!text) throw new Error(`${client}: empty reply`);
  }
  times.sort((a, b) => a - b);
  return {
    p50: times[Math.floor(n / 2)],
    p90: times[Math.floor(n * 0.9)],
    mean: times.reduce((a, b) => a + b, 0) / n,
  };
}

const out: Record<string, unknown> = { client, importMs, heapMb };
if (args.calls) {
  const n = Number(args.calls);
  const c = caller(args["base-url"]);
  const messages: Message[] = [{ role: "user", content: "Why does this not compile?" }];
  out.chat = await perCall(n, () => c.chat(messages));
  out.stream = await perCall(Math.ceil(n / 2), () => c.stream(messages));
}
console.log(JSON.stringify(out));
