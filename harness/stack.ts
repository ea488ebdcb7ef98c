/**
 * The `local` stack on this machine: synthesized by the project's own main.ts from config/local.json with
 * the local servers' addresses patched in, then deployed exactly as an engineer deploys it — with
 * `cdktf deploy|diff|destroy`, or with the Terraform engine (`tofu`/`terraform`) run in the stack's folder,
 * which is what cdktf runs too and saves cdktf's own start-up where a suite deploys many times.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { run, runOk, type RunResult } from "./processes";

/** The project root (where cdktf.json and main.ts are). */
export const PROJECT_ROOT = resolve(__dirname, "..");

/** The app as cdktf.json runs it: main.ts bundled, see scripts/app.mjs. */
export const APP = join(PROJECT_ROOT, "scripts", "app.mjs");

export const STACK = "keybuzz-local";

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON, read field by field where it is used
export type TfJson = Record<string, any>;

/** The config file of an environment, as JSON (config/local.json by default). */
export function readConfig(environment = "local"): TfJson {
  const config = JSON.parse(readFileSync(join(PROJECT_ROOT, "config", `${environment}.json`), "utf8")) as TfJson;
  delete config.$schema;
  return config;
}

/** Where {@link synthLocal}`(dir, …)` puts things: the config folder, cdktf's output and the stack's folder. */
export function localPaths(dir: string): { configDir: string; outDir: string; stackDir: string; statePath: string } {
  const outDir = join(dir, "cdktf.out");
  return {
    configDir: join(dir, "config"),
    outDir,
    // where `cdktf deploy` runs Terraform, and so where the local backend's relative path starts.
    stackDir: join(outDir, "stacks", STACK),
    // the synthesized backend is `../../../terraform.keybuzz-local.tfstate`, from the stack's folder.
    statePath: join(dir, `terraform.${STACK}.tfstate`),
  };
}

/**
 * Writes config/local.json with the servers' Vault address and PostgreSQL port (and `patch`, if any,
 * applied to the config object) into `<dir>/config`: KEYBUZZ_CONFIG_DIR for main.ts and cdktf.
 */
export function writeLocalConfig(dir: string, vaultAddress: string, pgPort: number, patch?: (config: TfJson) => void): string {
  const { configDir } = localPaths(dir);
  mkdirSync(configDir, { recursive: true });
  const config = readConfig("local");
  config.vault.address = vaultAddress;
  config.postgres.port = pgPort;
  patch?.(config);
  writeFileSync(join(configDir, "local.json"), `${JSON.stringify(config, null, 2)}\n`);
  return configDir;
}

/** The environment main.ts (and so cdktf) synthesizes with: the config folder of `dir`, only `local`. */
export function synthEnv(dir: string): NodeJS.ProcessEnv {
  const { configDir, outDir } = localPaths(dir);
  return { KEYBUZZ_CONFIG_DIR: configDir, KEYBUZZ_ENVIRONMENTS: "local", CDKTF_OUTDIR: outDir };
}

/**
 * Synthesizes the `local` stack of `<dir>/config` (see {@link writeLocalConfig}) with the app cdktf runs
 * (`node scripts/app.mjs`) into `<dir>/cdktf.out`; returns the synthesized cdk.tf.json.
 */
export async function synthLocal(dir: string): Promise<TfJson> {
  await runOk(process.execPath, [APP], { cwd: PROJECT_ROOT, env: { ...process.env, ...synthEnv(dir) } });
  return JSON.parse(readFileSync(join(localPaths(dir).stackDir, "cdk.tf.json"), "utf8"));
}

/** Credentials and tools Terraform (or cdktf) runs with against local servers. */
export interface DeployCredentials {
  /** The Terraform engine (`tofu` or `terraform`), a path or a name on PATH. */
  readonly engine: string;
  /** A CLI config whose provider_installation is the providers' filesystem mirror; absent: the registry. */
  readonly cliConfig?: string;
  readonly vaultToken: string;
  /** The CA that signed Vault's certificate (VAULT_CACERT), for an `https` address with a private CA. */
  readonly vaultCaCert?: string;
  /** The password of `postgres.adminUsername` (PGPASSWORD, for the postgresql provider). */
  readonly pgPassword: string;
  /** The password vault_admin gets (TF_VAR_vault_admin_password). */
  readonly adminPassword: string;
  /** HOME for Terraform and cdktf (their caches and CLI config lookups stay in it). */
  readonly home: string;
}

/**
 * The environment Terraform and cdktf run with: nothing of the caller's but PATH, the credentials from
 * environment variables (never from files), no telemetry, and `TERRAFORM_BINARY_NAME` for cdktf.
 */
export function deployEnv(c: DeployCredentials): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: c.home,
    ...(c.cliConfig ? { TF_CLI_CONFIG_FILE: c.cliConfig } : {}),
    VAULT_TOKEN: c.vaultToken,
    ...(c.vaultCaCert ? { VAULT_CACERT: c.vaultCaCert } : {}),
    PGPASSWORD: c.pgPassword,
    TF_VAR_vault_admin_password: c.adminPassword,
    TERRAFORM_BINARY_NAME: c.engine,
    CHECKPOINT_DISABLE: "1",
    TF_IN_AUTOMATION: "1",
  };
}

/** Runs the Terraform engine in `dir` (never throws; see RunResult.code); `output` is stdout and stderr together. */
export async function terraform(
  engine: string,
  dir: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  options: { echo?: string } = {},
): Promise<RunResult & { output: string }> {
  const result = await run(engine, [...args, "-no-color"], { cwd: dir, env, echo: options.echo });
  return { ...result, output: `${result.stdout}\n${result.stderr}` };
}

/** The cdktf CLI of this project (node_modules/.bin/cdktf, the pinned cdktf-cli). */
export const CDKTF = join(PROJECT_ROOT, "node_modules", ".bin", "cdktf");

/** A command line to run: what {@link cdktfCommand} returns, for {@link run} or {@link startProcess}. */
export interface CommandLine {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
}

/**
 * `cdktf <command> keybuzz-local …` from the project root with the synthesized output in `<dir>/cdktf.out`,
 * as an engineer runs it (`npx cdktf deploy keybuzz-local --auto-approve`), plus what running it against
 * local servers needs: `--skip-provider-lock` when the providers come from the filesystem mirror (cdktf
 * runs `providers lock` after init, which asks the registry).
 */
export function cdktfCommand(
  command: "deploy" | "diff" | "destroy",
  dir: string,
  credentials: DeployCredentials,
  extraArgs: readonly string[] = [],
): CommandLine {
  const args = [
    command,
    STACK,
    "--output",
    localPaths(dir).outDir,
    ...(credentials.cliConfig ? ["--skip-provider-lock"] : []),
    ...(command === "diff" ? [] : ["--auto-approve"]),
    ...extraArgs,
  ];
  return { command: CDKTF, args, cwd: PROJECT_ROOT, env: { ...deployEnv(credentials), ...synthEnv(dir), CI: "1", FORCE_COLOR: "0" } };
}

/** Runs {@link cdktfCommand} to completion; never throws. `output` is stdout and stderr together. */
export async function cdktf(
  command: "deploy" | "diff" | "destroy",
  dir: string,
  credentials: DeployCredentials,
  options: { args?: readonly string[]; echo?: string } = {},
): Promise<RunResult & { output: string }> {
  const line = cdktfCommand(command, dir, credentials, options.args);
  const result = await run(line.command, line.args, { cwd: line.cwd, env: line.env, echo: options.echo });
  return { ...result, output: `${result.stdout}\n${result.stderr}` };
}
