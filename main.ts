/**
 * The cdktf app: one stack per environment file in config/ (`keybuzz-<env>`).
 *
 * Every file is validated before anything is synthesized: one bad value stops the run with an error
 * that names the file, the field and the value, and no stack is written.
 *
 * Environment: KEYBUZZ_CONFIG_DIR (default ./config) picks another folder of environment files;
 * KEYBUZZ_ENVIRONMENTS (comma-separated) synthesizes only those; KEYBUZZ_TOKEN_STACK_TRACES=1 keeps
 * cdktf's per-token stack traces (slow; see stacks/token-stack-traces.ts).
 */
import { resolve } from "node:path";
import { App } from "cdktf";
import { ConfigError, type EnvironmentConfig, loadEnvironments } from "./stacks/environment";
import { KeybuzzStack, stackName } from "./stacks/keybuzz-stack";
import { quietCdktfDeprecations } from "./stacks/cdktf-warnings";
import { skipTokenStackTraces } from "./stacks/token-stack-traces";

function main(): void {
  const dir = process.env.KEYBUZZ_CONFIG_DIR ?? resolve(__dirname, "config");
  const only = process.env.KEYBUZZ_ENVIRONMENTS?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  let environments: EnvironmentConfig[];
  try {
    environments = loadEnvironments(dir, only);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`invalid configuration, nothing synthesized:\n${err.problems.map((p) => `  ${p}`).join("\n")}\n`);
    process.exit(1);
  }
  if (process.env.KEYBUZZ_TOKEN_STACK_TRACES !== "1") skipTokenStackTraces();
  quietCdktfDeprecations(); // cdktf 0.21's util.isArray, deprecated at run time on Node.js 22 and later
  // skipValidation stays off: constructs report what only shows once everything is built.
  const app = new App({ outdir: process.env.CDKTF_OUTDIR ?? "cdktf.out" });
  for (const config of environments) {
    new KeybuzzStack(app, stackName(config.name), { config });
  }
  app.synth();
}

main();
