// Running a command and failing with what it printed.

export interface RunOptions {
  /** Words for the error message: what was being done. */
  what: string;
  cwd?: string;
  env?: Record<string, string>;
  stdin?: string;
  /** Return stderr after stdout (for tools that report progress on stderr). */
  withStderr?: boolean;
}

export class CommandError extends Error {
  constructor(message: string, readonly code: number, readonly output: string) {
    super(message);
  }
}

/** Runs a command to completion; returns stdout, or throws CommandError with stderr and stdout. */
export async function run(cmd: string, args: string[], options: RunOptions): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const out = new TextDecoder().decode(stdout);
  const err = new TextDecoder().decode(stderr);
  if (code !== 0) {
    const output = [err.trim(), out.trim()].filter(Boolean).join("\n");
    throw new CommandError(`${options.what} failed (exit ${code}):\n${output}`, code, output);
  }
  return options.withStderr ? `${out}${err}` : out;
}
