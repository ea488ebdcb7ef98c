/**
 * Real before/after fixtures for the review: the project's own environment files, synthesized in process
 * into a temporary `cdktf.out`, once as they are and once with one edit (an application added, a TTL raised…).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App } from "cdktf";
import { parseEnvironment } from "../../stacks/environment";
import { KeybuzzStack, stackName } from "../../stacks/keybuzz-stack";
import { PROJECT_ROOT } from "../../review/synth";

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

/** Runs `npm run review`'s script (scripts/review.ts, through tsx) with `args`, from the project root. */
export function review(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const tsx = join(PROJECT_ROOT, "node_modules", "tsx", "dist", "cli.mjs");
  const r = spawnSync(process.execPath, [tsx, join(PROJECT_ROOT, "scripts", "review.ts"), ...args], {
    cwd: PROJECT_ROOT,
    encoding: "utf8",
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
