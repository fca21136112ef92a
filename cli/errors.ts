// An error the CLI reports as one sentence (no stack) with its exit code: 2 for usage, configuration,
// connection and credential problems, which no amount of retrying the same command fixes.
export class CliError extends Error {
  override name = "CliError";
  constructor(message: string, readonly exitCode = 2) {
    super(message);
  }
}
