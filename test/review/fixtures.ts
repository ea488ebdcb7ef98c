/**
 * Real before/after fixtures for the review: the project's own environment files, synthesized in process
 * into a temporary `cdktf.out`, once as they are and once with one edit (an application added, a TTL raised…).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App } from "cdktf";
import { parseEnvironment } from "../../stacks/config";
import { KeybuzzStack, stackName } from "../../stacks/keybuzz-stack";

const CONFIG_DIR = join(__dirname, "..", "..", "config");
const ENVIRONMENTS = ["dev", "local", "prod", "staging"] as const;

/** An environment file as plain JSON, to edit. */
export type RawConfig = Record<string, any>;

function readConfig(env: string): RawConfig {
  return JSON.parse(readFileSync(join(CONFIG_DIR, `${env}.json`), "utf8")) as RawConfig;
}

/** Synthesizes every environment (after `edit`, if any) into a new temp folder and returns it. */
export function synthesizeVariant(edit?: (configs: Record<string, RawConfig>) => void): string {
  const configs = Object.fromEntries(ENVIRONMENTS.map((e) => [e, readConfig(e)]));
  edit?.(configs);
  const outdir = mkdtempSync(join(tmpdir(), "keybuzz-review-fixture-"));
  const app = new App({ outdir });
  for (const env of ENVIRONMENTS) {
    const config = parseEnvironment(env, `config/${env}.json`, JSON.stringify(configs[env]));
    new KeybuzzStack(app, stackName(env), { config });
  }
  app.synth();
  return outdir;
}

/** Removes fixture folders. */
export function removeAll(dirs: readonly string[]): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

/** The real plan fixture: `terraform show -json` of a plan over built-in terraform_data resources. */
export const TERRAFORM_DATA_PLAN = join(__dirname, "fixtures", "terraform-data.plan.json");
