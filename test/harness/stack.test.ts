import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  CDKTF,
  cdktfCommand,
  deployEnv,
  localPaths,
  PROJECT_ROOT,
  readConfig,
  STACK,
  synthEnv,
  writeLocalConfig,
  type DeployCredentials,
} from "../../harness/stack";

const credentials: DeployCredentials = {
  engine: "/opt/tofu",
  vaultToken: "root-token",
  pgPassword: "pg-secret",
  adminPassword: "admin-secret",
  home: "/tmp/home",
};

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "keybuzz-stack-test-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  vi.unstubAllEnvs();
});

describe("localPaths", () => {
  it("puts the config, cdktf's output and the stack's folder under the folder", () => {
    expect(localPaths("/w")).toEqual({
      configDir: "/w/config",
      outDir: "/w/cdktf.out",
      stackDir: `/w/cdktf.out/stacks/${STACK}`,
      statePath: `/w/terraform.${STACK}.tfstate`,
    });
  });

  it("places the state where the synthesized local backend's relative path leads from the stack's folder", () => {
    const { stackDir, statePath } = localPaths("/w");
    expect(join(stackDir, `../../../terraform.${STACK}.tfstate`)).toBe(statePath);
  });
});

describe("readConfig", () => {
  it("reads config/local.json without its $schema", () => {
    const config = readConfig();
    expect(config.$schema).toBeUndefined();
    expect(config).toEqual({ ...JSON.parse(readFileSync(join(PROJECT_ROOT, "config", "local.json"), "utf8")), $schema: undefined });
  });
});

describe("writeLocalConfig", () => {
  it("writes local.json with the servers' address and port into the config folder", () => {
    const configDir = writeLocalConfig(dir, "https://127.0.0.1:8443", 54321);
    expect(configDir).toBe(localPaths(dir).configDir);
    const written = JSON.parse(readFileSync(join(configDir, "local.json"), "utf8"));
    expect(written.vault.address).toBe("https://127.0.0.1:8443");
    expect(written.postgres.port).toBe(54321);
    expect(written.$schema).toBeUndefined();
    expect(written.applications).toEqual(readConfig().applications);
  });

  it("applies the patch after the servers' address, so a patch can override it", () => {
    writeLocalConfig(dir, "http://127.0.0.1:1", 2, (config) => {
      config.postgres.port = 6432;
      config.postgres.sslmode = "require";
    });
    const written = JSON.parse(readFileSync(join(dir, "config", "local.json"), "utf8"));
    expect(written.postgres).toMatchObject({ port: 6432, sslmode: "require" });
  });
});

describe("synthEnv", () => {
  it("points main.ts at the folder's config, the local environment only, and the folder's output", () => {
    expect(synthEnv("/w")).toEqual({ KEYBUZZ_CONFIG_DIR: "/w/config", KEYBUZZ_ENVIRONMENTS: "local", CDKTF_OUTDIR: "/w/cdktf.out" });
  });
});

describe("deployEnv", () => {
  it("passes nothing of the caller's but PATH, and the credentials as variables", () => {
    vi.stubEnv("PATH", "/usr/bin:/bin");
    vi.stubEnv("VAULT_ADDR", "https://vault.example.invalid");
    expect(deployEnv(credentials)).toEqual({
      PATH: "/usr/bin:/bin",
      HOME: "/tmp/home",
      VAULT_TOKEN: "root-token",
      PGPASSWORD: "pg-secret",
      TF_VAR_vault_admin_password: "admin-secret",
      TERRAFORM_BINARY_NAME: "/opt/tofu",
      CHECKPOINT_DISABLE: "1",
      TF_IN_AUTOMATION: "1",
    });
  });

  it("adds the mirror's CLI config and Vault's CA only when given", () => {
    const env = deployEnv({ ...credentials, cliConfig: "/c/cli.tfrc", vaultCaCert: "/c/ca.crt" });
    expect(env.TF_CLI_CONFIG_FILE).toBe("/c/cli.tfrc");
    expect(env.VAULT_CACERT).toBe("/c/ca.crt");
  });
});

describe("cdktfCommand", () => {
  it("runs `cdktf deploy keybuzz-local --auto-approve` from the project root into the folder's output", () => {
    const line = cdktfCommand("deploy", "/w", credentials);
    expect(line.command).toBe(CDKTF);
    expect(line.cwd).toBe(PROJECT_ROOT);
    expect(line.args).toEqual(["deploy", STACK, "--output", "/w/cdktf.out", "--auto-approve"]);
    expect(line.env).toMatchObject({ ...deployEnv(credentials), ...synthEnv("/w"), CI: "1", FORCE_COLOR: "0" });
  });

  it("skips the provider lock with a filesystem mirror, and asks no approval of a diff", () => {
    const line = cdktfCommand("diff", "/w", { ...credentials, cliConfig: "/c/cli.tfrc" }, ["--refresh-only"]);
    expect(line.args).toEqual(["diff", STACK, "--output", "/w/cdktf.out", "--skip-provider-lock", "--refresh-only"]);
  });

  it("approves a destroy", () => {
    expect(cdktfCommand("destroy", "/w", credentials).args).toContain("--auto-approve");
  });
});
