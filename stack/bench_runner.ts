// `deno task bench`: runs the benchmarks in bench/ (every *.ts not starting with `_`, or the files named on
// the command line) one after another against one fresh throw-away stack with the test model, and prints
// their figures. Benchmarks print; they never pass or fail on a figure.
import { join } from "node:path";
import { ROOT } from "./config.ts";
import { stackEnv, throwawayStack } from "./test_runner.ts";

export async function runBenchmarks(args: string[]): Promise<number> {
  const dir = join(ROOT, "bench");
  const files = args.filter((a) => !a.startsWith("--"));
  const chosen = files.length ? files : [...Deno.readDirSync(dir)]
    .filter((e) => e.isFile && e.name.endsWith(".ts") && !e.name.startsWith("_"))
    .map((e) => join("bench", e.name))
    .sort();
  const { stack, cleanup } = await throwawayStack("bench");
  let failures = 0;
  try {
    for (const file of chosen) {
      console.log(`\n== ${file} ==`);
      const { code } = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", file, ...args.filter((a) => a.startsWith("--"))],
        cwd: ROOT,
        env: stackEnv(stack),
        stdout: "inherit",
        stderr: "inherit",
      }).output();
      if (code !== 0) {
        console.log(`${file} exited with code ${code}`);
        failures++;
      }
    }
  } finally {
    await cleanup();
  }
  return failures === 0 ? 0 : 1;
}
