// Every function deploys: its bundle, measured as `supabase functions deploy` builds it (its own deno.json, every
// local module, every npm package folder whole; stack/deploy_check.ts), holds no native addon and stays under
// hosted's 20 MB. The check itself is shown to bite on a fixture function that imports a native addon.
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../stack/config.ts";
import { BUNDLE_LIMIT_BYTES, deployGraphs, mb } from "../stack/deploy_check.ts";

Deno.test("deploy: every function's bundle holds no native addon and is at most 20 MB", async () => {
  const graphs = await deployGraphs();
  assert.ok(graphs.length >= 8, graphs.map((g) => g.name).join(", "));
  for (const g of graphs) {
    console.log(`${g.name}: ${mb(g.bytes)} (local ${mb(g.localBytes)})`);
    assert.deepEqual(g.problems, [], g.name);
    assert.ok(g.bytes <= BUNDLE_LIMIT_BYTES, `${g.name}: ${mb(g.bytes)}`);
    for (const p of g.packages) {
      assert.ok(
        !/^(onnxruntime|sharp|@img\/|@huggingface\/transformers|openai@)/.test(p.name),
        `${g.name}: ${p.name}`,
      );
    }
  }
});

Deno.test("deploy: the check refuses a function whose graph holds a native addon", async () => {
  const graphs = await deployGraphs(join(ROOT, "tests", "fixtures", "gateway", "supabase"));
  const native = graphs.find((g) => g.name === "native-addon");
  assert.ok(native, "the fixture has a native-addon function");
  assert.ok(native.problems.some((p) => /native addons/.test(p)), JSON.stringify(native.problems));
  assert.ok(
    native.problems.some((p) => /exceeds hosted's 20\.00 MB/.test(p)),
    JSON.stringify(native.problems),
  );
  const open = graphs.find((g) => g.name === "open");
  assert.deepEqual(open?.problems, [], "a plain function passes");
});
