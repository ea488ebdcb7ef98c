/**
 * Shared test helpers: in-process synthesis, a small fixture of the constructs a connection, a dynamic
 * role, a policy or an auth method needs, `main.ts` as a child process, and the secret scanner.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { App, TerraformStack, TerraformVariable, Testing, type TerraformResource } from "cdktf";
import { Construct } from "constructs";
import { PostgresqlProvider } from "@cdktf/provider-postgresql/lib/provider";
import { VaultProvider } from "@cdktf/provider-vault/lib/provider";
import { AppPolicy } from "../constructs/app-policy";
import { BaseRoles, type BaseRoleOptions } from "../constructs/base-roles";
import { Connection } from "../constructs/connection";
import { CredentialFunctions } from "../constructs/credential-functions";
import { DynamicRole } from "../constructs/dynamic-role";
import { SecretsMount } from "../constructs/secrets-mount";
import { VaultAdmin, type VaultAdminProps } from "../constructs/vault-admin";
import { loadEnvironments } from "../stacks/environment";
import { KeybuzzStack, stackName } from "../stacks/keybuzz-stack";

/** The project root. */
export const ROOT = join(__dirname, "..");

/** A parsed `cdk.tf.json` (or `Testing.synth` output). */
export type TfJson = Record<string, any>;

/** A resource body as synthesized. */
export type TfResource = Record<string, unknown>;

// every App creates its outdir: one per test file, removed after it, instead of one per synth left in /tmp.
const unitOutdir = mkdtempSync(join(tmpdir(), "keybuzz-unit-"));
afterAll(() => rmSync(unitOutdir, { recursive: true, force: true }));

/** A `Testing.app()` whose outdir is shared by the tests of this file and removed after them. */
export function testApp(): App {
  return Testing.app({ outdir: unitOutdir });
}

/**
 * Builds constructs in a fresh test stack and synthesizes it (`Testing.synth`, `//` metadata removed).
 * Returns the JSON, whatever `build` returned, and the stack.
 */
export function synthStack<T>(
  build: (stack: TerraformStack) => T,
  options: { runValidations?: boolean } = {},
): { json: TfJson; built: T; stack: TerraformStack } {
  const stack = new TerraformStack(testApp(), "stack");
  const built = build(stack);
  const json = JSON.parse(Testing.synth(stack, options.runValidations ?? false)) as TfJson;
  return { json, built, stack };
}

/** Removes cdktf's `//` metadata keys, at any depth. */
export function withoutMetadata<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withoutMetadata) as T;
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key]) => key !== "//")
        .map(([key, v]) => [key, withoutMetadata(v)]),
    ) as T;
  }
  return value;
}

/** The bodies of every resource of one type, without metadata, in logical-ID order. */
export function resources(json: TfJson, type: string): TfResource[] {
  const byId = (json.resource?.[type] ?? {}) as Record<string, TfResource>;
  return Object.keys(byId)
    .sort()
    .map((id) => withoutMetadata(byId[id]));
}

/** The only resource of that type; throws when there are none or several. */
export function onlyResource(json: TfJson, type: string): TfResource {
  const found = resources(json, type);
  if (found.length !== 1) throw new Error(`expected exactly one ${type}, found ${found.length}`);
  return found[0];
}

/**
 * A connection block of the only `vault_database_secrets_mount` (its `postgresql` list): the one of that
 * name, or the only one. Throws when there is no such block.
 */
export function connectionBlock(json: TfJson, name?: string): TfResource {
  const blocks = (onlyResource(json, "vault_database_secrets_mount").postgresql ?? []) as TfResource[];
  const found = name === undefined ? blocks : blocks.filter((b) => b.name === name);
  if (found.length !== 1) throw new Error(`expected exactly one connection${name ? ` "${name}"` : ""} in the mount, found ${found.length}`);
  return found[0];
}

/** The Terraform reference to an attribute of a resource, as it appears in the JSON: `${type.id.attr}`. */
export function ref(resource: TerraformResource, attribute = "name"): string {
  return `\${${resource.terraformResourceType}.${resource.friendlyUniqueId}.${attribute}}`;
}

/** The `depends_on` entry of a resource: `type.id`. */
export function dependency(resource: TerraformResource): string {
  return `${resource.terraformResourceType}.${resource.friendlyUniqueId}`;
}

/** Adds the two providers, which validation requires of any stack with their resources. */
export function addProviders(scope: Construct): void {
  new VaultProvider(scope, "vault", { address: "http://127.0.0.1:8200" });
  new PostgresqlProvider(scope, "postgresql", { host: "127.0.0.1" });
}

/** The stack's sensitive password variable, as KeybuzzStack declares it. */
export function passwordVariable(scope: Construct): TerraformVariable {
  return new TerraformVariable(scope, "vault_admin_password", { type: "string", sensitive: true });
}

/** What a connection or a dynamic role needs: base roles, the admin, the mount and the password reference. */
export interface Fixture {
  readonly baseRoles: BaseRoles;
  readonly functions: CredentialFunctions;
  readonly admin: VaultAdmin;
  readonly mount: SecretsMount;
  readonly password: string;
}

/** Builds the base roles (`app` unless given), `vault_admin` and the `database` mount. */
export function fixture(
  scope: Construct,
  options: { roles?: readonly BaseRoleOptions[]; admin?: Partial<VaultAdminProps>; mountPath?: string; mountMaxLeaseTtlSeconds?: number } = {},
): Fixture {
  const password = passwordVariable(scope).stringValue;
  const baseRoles = new BaseRoles(scope, "BaseRoles", { roles: options.roles ?? [{ name: "app" }], databaseName: "keybuzz" });
  const functions = new CredentialFunctions(scope, "CredentialFunctions", { baseRoles });
  const admin = new VaultAdmin(scope, "VaultAdmin", { baseRoles, functions, password, ...options.admin });
  const mount = new SecretsMount(scope, "Mount", { path: options.mountPath, maxLeaseTtlSeconds: options.mountMaxLeaseTtlSeconds });
  return { baseRoles, functions, admin, mount, password };
}

/** A dynamic role to build on: its Vault role name and, optionally, its TTLs. */
export interface RoleOptions {
  readonly name: string;
  readonly defaultTtlSeconds?: number;
  readonly maxTtlSeconds?: number;
}

/**
 * Builds the fixture, a connection to 10.0.0.11:5432/keybuzz and one dynamic role per entry (ID and Vault
 * role name alike), all granting base role `app`: what a policy needs.
 */
export function dynamicRoles(
  scope: Construct,
  roles: readonly RoleOptions[] = [{ name: "app-db" }],
  options: { mountPath?: string; baseRoles?: readonly BaseRoleOptions[] } = {},
): Fixture & { connection: Connection; roles: DynamicRole[] } {
  const f = fixture(scope, { mountPath: options.mountPath, roles: options.baseRoles });
  const connection = new Connection(scope, "Connection", { mount: f.mount, admin: f.admin, host: "10.0.0.11", port: 5432, database: "keybuzz" });
  const built = roles.map((r) => new DynamicRole(scope, r.name, { connection, functions: f.functions, baseRoles: [f.baseRoles.role("app")], ...r }));
  return { ...f, connection, roles: built };
}

/**
 * One policy per application, each over its own dynamic role `<application>-db` (with the given TTLs),
 * under a `Policies` scope, as KeybuzzStack builds them: what an auth method needs.
 */
export function appPolicies(
  scope: Construct,
  applications: ReadonlyArray<Omit<RoleOptions, "name"> & { readonly name: string }>,
): Record<string, AppPolicy> {
  const { roles } = dynamicRoles(
    scope,
    applications.map((a) => ({ ...a, name: `${a.name}-db` })),
  );
  const policies = new Construct(scope, "Policies");
  return Object.fromEntries(applications.map((a, i) => [a.name, new AppPolicy(policies, a.name, { role: roles[i] })]));
}

/** A PEM-shaped CA certificate: the shape is all that is checked, the body is dummy base64. */
export const CA_PEM = [
  "-----BEGIN CERTIFICATE-----",
  "TUlJQmR1bW15Q2VydGlmaWNhdGVGb3JLZXlCdXp6VGVzdHNPbmx5Tm90QVJlYWxD",
  "QQ==",
  "-----END CERTIFICATE-----",
  "",
].join("\n");

/** Every file under a folder, recursively, as absolute paths, sorted. */
export function listFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((entry) => {
      const path = join(dir, entry);
      return statSync(path).isDirectory() ? listFiles(path) : [path];
    });
}

/**
 * Synthesizes the given environments in-process, exactly as `main.ts` does (a plain `App`, one
 * `KeybuzzStack` per file), into `outdir`; returns each stack's `cdk.tf.json` text by environment name.
 */
export function synthEnvironments(configDir: string, outdirPath: string): Record<string, string> {
  const app = new App({ outdir: outdirPath });
  const environments = loadEnvironments(configDir);
  for (const config of environments) new KeybuzzStack(app, stackName(config.name), { config });
  app.synth();
  return Object.fromEntries(
    environments.map((config) => [config.name, readFileSync(join(outdirPath, "stacks", stackName(config.name), "cdk.tf.json"), "utf8")]),
  );
}

/** The outcome of running `main.ts`. */
export interface MainRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `main.ts` (through tsx) as a child process from the project root. The variables that steer it
 * (KEYBUZZ_*, CDKTF_OUTDIR) are not inherited, only those given.
 */
export function runMain(env: Record<string, string>): Promise<MainRun> {
  return runNode(["--import", "tsx", "main.ts"], ROOT, env);
}

/** Runs the app as cdktf.json runs it (`node scripts/app.mjs`, the bundle) from `root`, like {@link runMain}. */
export function runApp(env: Record<string, string>, root = ROOT): Promise<MainRun> {
  return runNode(["scripts/app.mjs"], root, env);
}

function runNode(args: string[], cwd: string, env: Record<string, string>): Promise<MainRun> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("KEYBUZZ_") && key !== "CDKTF_OUTDIR"));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env: { ...inherited, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** `dir(prefix)`: a new temporary folder each call, all removed after the calling file's tests (call at file or describe level). */
export function tempDirs(): (prefix: string) => string {
  const dirs: Array<{ path: string; remove: () => void }> = [];
  afterAll(() => {
    for (const d of dirs) d.remove();
  });
  return (prefix) => {
    const d = tempDir(prefix);
    dirs.push(d);
    return d.path;
  };
}

/** A temporary folder, removed by the returned function. */
export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `keybuzz-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

// a key that names a secret value (`password`, `password_wo`, `token`, `vault_token`, ...), but not
// metadata about one (`password_wo_version`, `password_authentication`).
const SECRET_KEY = /(^|_)(password|token|secret)(_wo)?$/i;
// a quoted key and its string value, in JSON and in vitest's .snap files alike.
const STRING_PROPERTY = /"([A-Za-z0-9_$-]+)"\s*:\s*"((?:[^"\\]|\\.)*)"/g;
// a whole-value Terraform reference such as ${var.vault_admin_password}; .snap files escape it as \${.
const REFERENCE = /^\\?\$\{[^}]+\}$/;

/**
 * Scans files for secrets: any of the canary values anywhere, and any secret-named key whose value is a
 * literal string rather than a Terraform reference. Returns one line per hit (`file: what`), none when clean.
 */
export function scanForSecrets(files: readonly string[], canaries: readonly string[]): string[] {
  const hits: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    for (const canary of canaries) {
      if (text.includes(canary)) hits.push(`${file}: contains the canary value ${JSON.stringify(canary)}`);
    }
    for (const [, key, value] of text.matchAll(STRING_PROPERTY)) {
      if (SECRET_KEY.test(key) && value !== "" && !REFERENCE.test(value)) {
        hits.push(`${file}: "${key}" has a literal value`);
      }
    }
  }
  return hits;
}
