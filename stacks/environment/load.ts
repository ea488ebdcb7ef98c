/**
 * Reading environment files: one `<env>.json` per environment in a folder, each parsed, validated by the
 * schema and its rules, its CA files read, all before any is returned, so that one bad file stops the whole
 * synth with every problem of every file.
 */
import { readFileSync, readdirSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { holdsPrivateKey, isPemCertificate } from "../../constructs/vocabulary";
import { ConfigError, formatIssues, formatProblems } from "./errors";
import { productionProblems } from "./rules";
import { environmentSchema, type CaCertificate, type EnvironmentConfig } from "./schema";

/** Parses and validates one environment's JSON text; throws ConfigError listing every problem. */
export function parseEnvironment(name: string, file: string, text: string): EnvironmentConfig {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`${file}: not valid JSON: ${(err as Error).message}`]);
  }
  const result = environmentSchema.safeParse(data);
  if (!result.success) throw new ConfigError(formatIssues(file, data, result.error.issues));
  const caProblems: string[] = [];
  const env: EnvironmentConfig = {
    ...result.data,
    name,
    file,
    kubernetesCaCert: readCaCert(file, "auth.kubernetes.caCertFile", result.data.auth.kubernetes?.caCertFile, caProblems)?.pem,
    postgresCaCert: readCaCert(file, "postgres.caCertFile", result.data.postgres.caCertFile, caProblems),
  };
  if (caProblems.length > 0) throw new ConfigError(caProblems);
  const problems = productionProblems(env);
  if (problems.length > 0) throw new ConfigError(formatProblems(file, env, problems));
  return env;
}

/**
 * Reads a CA file named by `field`, relative to the config file. A missing file, one that is not a PEM
 * certificate, or one that also holds a private key (which would be copied into the synthesized JSON) adds
 * a line to `problems` and reads nothing.
 */
function readCaCert(file: string, field: string, caFile: string | undefined, problems: string[]): CaCertificate | undefined {
  if (caFile === undefined) return undefined;
  const where = `${file}: ${field}`;
  const path = resolve(dirname(file), caFile);
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (err) {
    problems.push(`${where}: cannot read "${caFile}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    return undefined;
  }
  if (!isPemCertificate(pem)) {
    // the same check as the constructs': a file they would refuse is refused here, naming the field.
    const missing = pem.includes("-----BEGIN CERTIFICATE-----") ? "-----END CERTIFICATE-----" : "-----BEGIN CERTIFICATE-----";
    problems.push(`${where}: "${caFile}" is not a PEM certificate (no ${missing})`);
    return undefined;
  }
  if (holdsPrivateKey(pem)) {
    problems.push(`${where}: "${caFile}" holds a private key: give the CA certificate alone, it is copied into the synthesized stack`);
    return undefined;
  }
  return { pem, path };
}

/** Environment names are file names; they become stack names (`keybuzz-<env>`). */
const ENV_FILE = /^([a-z][a-z0-9-]*)\.json$/;
/** The JSON Schema written by `npm run schema` sits beside the environment files but is not one. */
const SCHEMA_FILE = "schema.json";

/**
 * Loads every `<env>.json` in a folder (sorted by name), validating all before returning any,
 * so that one bad file stops the whole synth. Throws ConfigError with every problem of every file.
 */
export function loadEnvironments(dir: string, only?: readonly string[]): EnvironmentConfig[] {
  const files = readdirSync(dir)
    .filter((f) => ENV_FILE.test(f) && f !== SCHEMA_FILE)
    .sort();
  const envs: EnvironmentConfig[] = [];
  const problems: string[] = [];
  for (const f of files) {
    const name = basename(f, ".json");
    if (only && !only.includes(name)) continue;
    const path = join(dir, f);
    const shown = relative(process.cwd(), path) || path;
    try {
      envs.push(parseEnvironment(name, shown, readFileSync(path, "utf8")));
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else throw err;
    }
  }
  if (only) {
    for (const name of only) {
      if (!files.includes(`${name}.json`)) problems.push(`${join(dir, `${name}.json`)}: no such environment file`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  if (envs.length === 0) throw new ConfigError([`${dir}: no environment files (<env>.json) found`]);
  return envs;
}
