/**
 * `npm run leases -- --env <name> [--format table|json|prometheus] [--output FILE] [--expiring 15m] [--grace 10s] [--fix [--apply]]`
 *
 * Holds Vault's leases of one environment against PostgreSQL's issued users and says what is wrong (see
 * leases/audit.ts). Vault: the environment's `vault.address`, a token in VAULT_TOKEN with the
 * `keybuzz-leases-audit` policy (`keybuzz-leases-fix` for `--fix --apply`), VAULT_CACERT for a private CA.
 * PostgreSQL: logged in with a credential of the audit's own Vault role, revoked at the end.
 *
 * Exit status (leases/run.ts): 0 healthy; 2 something found (or, with --apply, left for a person); 1 could not
 * look, or an action of --apply failed. Progress goes to stderr, the report to stdout (or FILE, replaced atomically).
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { LEASE_AUDIT_NAMES } from "../stacks/keybuzz-names";
import { prometheusFailure, toPrometheus, toTable } from "../leases/format";
import { runAudit } from "../leases/run";
import { targetFor } from "../leases/target";
import { ConfigError, loadEnvironments, parseDuration } from "../stacks/environment";

const USAGE =
  "usage: npm run leases -- --env <name> [--format table|json|prometheus] [--output FILE] [--expiring 15m] [--grace 10s] [--fix [--apply]]";
const FORMATS = ["table", "json", "prometheus"] as const;

const progress = (message: string) => process.stderr.write(`[leases] ${message}\n`);

function seconds(flag: string, value: string): number {
  const s = parseDuration(value);
  if (!(s >= 0)) throw new Error(`--${flag} must be a duration such as 90s, 15m or 1h, got "${value}"`);
  return s;
}

/** Writes `text` to stdout, or replaces FILE with it atomically (a collector never reads half a file). */
function emit(text: string, output?: string): void {
  if (!output) {
    process.stdout.write(text);
    return;
  }
  const tmp = join(dirname(resolve(output)), `.${basename(output)}.${process.pid}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, output);
  progress(`wrote ${output}`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      env: { type: "string" },
      format: { type: "string", default: "table" },
      output: { type: "string" },
      expiring: { type: "string", default: "15m" },
      grace: { type: "string", default: "10s" },
      fix: { type: "boolean", default: false },
      apply: { type: "boolean", default: false },
      help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!values.env) throw new Error(`--env is required\n${USAGE}`);
  const format = values.format as (typeof FORMATS)[number];
  if (!FORMATS.includes(format)) throw new Error(`--format must be one of ${FORMATS.join(", ")}, got "${values.format}"`);
  if (values.apply && !values.fix) throw new Error("--apply only goes with --fix: run --fix first to see what it would do");
  const expiringWindowSeconds = seconds("expiring", values.expiring!);
  const graceSeconds = seconds("grace", values.grace!);
  const token = process.env.VAULT_TOKEN;
  if (!token)
    throw new Error(`set VAULT_TOKEN to a token with the ${LEASE_AUDIT_NAMES.auditPolicy} policy (${LEASE_AUDIT_NAMES.fixPolicy} for --fix --apply)`);

  const dir = process.env.KEYBUZZ_CONFIG_DIR ?? resolve(__dirname, "..", "config");
  const [config] = loadEnvironments(dir, [values.env]);
  const ca = process.env.VAULT_CACERT ? readFileSync(process.env.VAULT_CACERT, "utf8") : undefined;
  const target = targetFor(config, token, ca);

  const fix = values.apply ? "apply" : values.fix ? "plan" : undefined;
  const run = await runAudit(target, { expiringWindowSeconds, graceSeconds, fix }, { progress });
  if (!run.looked) {
    if (format === "prometheus") emit(prometheusFailure(config.name), values.output);
    progress(run.error);
    return run.exitCode;
  }

  const { report, plan, applied } = run;
  if (format === "json") emit(`${JSON.stringify({ ...report, fix: plan && { ...plan, applied } }, null, 2)}\n`, values.output);
  else if (format === "prometheus") emit(toPrometheus(report), values.output);
  else emit(toTable(report, plan), values.output);
  for (const a of applied ?? []) progress(`${a.ok ? "done" : "FAILED"}: ${a.action.does}${a.error ? `: ${a.error}` : ""}`);
  return run.exitCode;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    const problems = err instanceof ConfigError ? err.problems.map((p) => `  ${p}`).join("\n") : undefined;
    progress(problems ? `invalid configuration:\n${problems}` : err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  },
);
