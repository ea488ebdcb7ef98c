import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { APP_FILES, compareOutputs, providerPins, stacksIn, terrainEnv, writeTerrainApp } from "../../terrain/check";
import { TARGET_VERSIONS } from "../../terrain/migrate";

const ROOT = join(__dirname, "..", "..");

let scratch: string;
beforeEach(() => {
  scratch = mkdtempSync(join(tmpdir(), "terrain-check-"));
});
afterEach(() => {
  rmSync(scratch, { recursive: true, force: true });
});

function write(dir: string, files: Record<string, string>): string {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const stackJson = (version: string, ttl = 3600) =>
  JSON.stringify({
    "//": { metadata: { version, stackName: "keybuzz-local" } },
    resource: { vault_database_secret_backend_role: { api: { default_ttl: ttl, name: "keybuzz-api-db" } } },
  });
const output = (dir: string, version: string, extra: Record<string, string> = {}) =>
  write(join(scratch, dir), {
    "manifest.json": JSON.stringify({ version, stacks: { "keybuzz-local": { name: "keybuzz-local" } } }),
    "stacks/keybuzz-local/cdk.tf.json": stackJson(version),
    "stacks/keybuzz-local/agent/keybuzz-api/agent.hcl": 'vault { address = "https://127.0.0.1:8200" }\n',
    ...extra,
  });

describe("compareOutputs", () => {
  it("finds none between outputs that differ only in the library's version (and Terraform's own files)", () => {
    const today = output("today", "0.21.0");
    const moved = output("moved", "0.24.0", {
      "stacks/keybuzz-local/.terraform.lock.hcl": "# lock\n",
      "stacks/keybuzz-local/.terraform/x": "",
      "stacks/keybuzz-local/plan": "",
    });
    expect(compareOutputs(today, moved)).toEqual([]);
  });

  it("names the file and the JSON path where a stack differs", () => {
    const today = output("today", "0.21.0");
    const moved = output("moved", "0.24.0", { "stacks/keybuzz-local/cdk.tf.json": stackJson("0.24.0", 1800) });
    expect(compareOutputs(today, moved)).toEqual([
      { file: "stacks/keybuzz-local/cdk.tf.json", what: "/resource/vault_database_secret_backend_role/api/default_ttl: 3600 vs 1800" },
    ]);
  });

  it("compares agent files byte for byte, and names a file only one side has", () => {
    const today = output("today", "0.21.0");
    const moved = output("moved", "0.24.0", {
      "stacks/keybuzz-local/agent/keybuzz-api/agent.hcl": 'vault { address = "https://127.0.0.1:8200" } \n',
      "stacks/keybuzz-local/agent/keybuzz-api/extra.hcl": "",
    });
    const found = compareOutputs(today, moved);
    expect(found.map((d) => d.file)).toEqual([
      "stacks/keybuzz-local/agent/keybuzz-api/agent.hcl",
      "stacks/keybuzz-local/agent/keybuzz-api/extra.hcl",
    ]);
    expect(found[1].what).toBe(`only in ${moved}`);
  });

  it("does not overlook the manifest's other fields", () => {
    const today = output("today", "0.21.0");
    const moved = output("moved", "0.24.0", { "manifest.json": JSON.stringify({ version: "0.24.0", stacks: {} }) });
    expect(compareOutputs(today, moved).map((d) => d.file)).toEqual(["manifest.json"]);
  });

  it("lists the stacks of an output", () => {
    expect(stacksIn(output("today", "0.21.0"))).toEqual(["keybuzz-local"]);
  });
});

describe("writeTerrainApp", () => {
  it("copies the app with its imports renamed, writes cdktf.json and a tsconfig.json for main.ts, and links CDK Terrain's packages", () => {
    const cdktn = write(join(scratch, "cdktn"), { "node_modules/cdktn/package.json": "{}" });
    const app = join(scratch, "app");
    const changed = writeTerrainApp(ROOT, app, cdktn);
    for (const entry of APP_FILES) expect(existsSync(join(app, entry)), entry).toBe(true);
    expect(changed).toContain("main.ts");
    expect(changed).toContain("constructs/app-policy.ts");
    expect(changed.every((f) => f.endsWith(".ts"))).toBe(true);
    expect(readFileSync(join(app, "main.ts"), "utf8")).toContain('import { App } from "cdktn";');
    expect(readFileSync(join(app, "constructs", "app-policy.ts"), "utf8")).toContain('from "../.gen/providers/vault/policy"');
    // the environment files come over as they are.
    expect(readFileSync(join(app, "config", "prod.json"), "utf8")).toBe(readFileSync(join(ROOT, "config", "prod.json"), "utf8"));
    const cdktfJson = JSON.parse(readFileSync(join(app, "cdktf.json"), "utf8"));
    expect(cdktfJson.terraformProviders).toEqual(providerPins(ROOT).map((p) => `${p.source}@${p.version}`));
    expect(cdktfJson.targetVersions).toEqual(TARGET_VERSIONS);
    expect(JSON.parse(readFileSync(join(app, "tsconfig.json"), "utf8")).files).toEqual(["main.ts"]);
    expect(lstatSync(join(app, "node_modules")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(app, "node_modules"))).toBe(join(cdktn, "node_modules"));
  });

  it("pins the providers the prebuilt packages were made for", () => {
    expect(providerPins(ROOT)).toEqual([
      { name: "vault", source: "hashicorp/vault", version: "5.6.0" },
      { name: "postgresql", source: "cyrilgdn/postgresql", version: "1.26.0" },
    ]);
  });
});

describe("terrainEnv", () => {
  it("puts CDK Terrain's Node.js first on PATH, also over a PATH given with the credentials", () => {
    const tools = { node: "/cache/node-24/bin/node", cdktn: "/cache/cdktn", engine: "/cache/tofu", cliConfig: "/cache/tofurc" };
    const env = terrainEnv("/app", tools, { PATH: "/usr/bin", VAULT_TOKEN: "t" });
    expect(env.PATH).toBe("/cache/node-24/bin:/usr/bin");
    expect(env).toMatchObject({
      HOME: "/app",
      TF_CLI_CONFIG_FILE: "/cache/tofurc",
      TERRAFORM_BINARY_NAME: "/cache/tofu",
      CHECKPOINT_DISABLE: "1",
      VAULT_TOKEN: "t",
    });
  });
});
