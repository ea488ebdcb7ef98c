import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers";

const scratch = mkdtempSync(join(tmpdir(), "keybuzz-leases-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** `npm run leases -- <args>` as a child process; Vault at a closed loopback port unless the config says otherwise. */
function leases(args: string[], env: NodeJS.ProcessEnv = { VAULT_TOKEN: "t" }) {
  const tsx = join(ROOT, "node_modules", "tsx", "dist", "cli.mjs");
  const r = spawnSync(process.execPath, [tsx, join(ROOT, "scripts", "leases.ts"), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { PATH: process.env.PATH, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("npm run leases, before it reaches any server", () => {
  it.each([
    [["--format", "json"], "--env is required"],
    [["--env", "local", "--format", "xml"], '--format must be one of table, json, prometheus, got "xml"'],
    [["--env", "local", "--apply"], "--apply only goes with --fix: run --fix first to see what it would do"],
    [["--env", "local", "--expiring", "soon"], '--expiring must be a duration such as 90s, 15m or 1h, got "soon"'],
    [["--env", "nowhere"], "config/nowhere.json: no such environment file"],
  ])("refuses %j: %s, exit 1, nothing on stdout", (args, message) => {
    const r = leases(args);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe("");
  });

  it("asks for VAULT_TOKEN, naming the policy it needs", () => {
    const r = leases(["--env", "local"], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("set VAULT_TOKEN to a token with the keybuzz-leases-audit policy (keybuzz-leases-fix for --fix --apply)");
  });

  it("names the environment file, field and value of a bad config, and reads nothing", () => {
    const dir = join(scratch, "bad");
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    writeFileSync(
      join(dir, "local.json"),
      JSON.stringify({ vault: { address: "http://127.0.0.1:1" }, postgres: { host: "127.0.0.1", port: 70000 }, applications: [] }),
    );
    const r = leases(["--env", "local"], { VAULT_TOKEN: "t", KEYBUZZ_CONFIG_DIR: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/invalid configuration:\n {2}.*local\.json: postgres\.port/);
  });

  it("exits 1 when Vault cannot be reached, and the Prometheus file says the audit could not look", () => {
    const dir = join(scratch, "closed");
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    const local = JSON.parse(readFileSync(join(ROOT, "config", "local.json"), "utf8"));
    delete local.$schema;
    local.vault.address = "http://127.0.0.1:9"; // discard: nothing listens
    writeFileSync(join(dir, "local.json"), JSON.stringify(local));
    const out = join(scratch, "keybuzz_leases.prom");
    const r = leases(["--env", "local", "--format", "prometheus", "--output", out], { VAULT_TOKEN: "secret-token", KEYBUZZ_CONFIG_DIR: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cannot reach Vault at http://127.0.0.1:9");
    expect(r.stderr).not.toContain("secret-token");
    expect(existsSync(out)).toBe(true);
    expect(readFileSync(out, "utf8")).toMatch(/^keybuzz_leases_audit_success\{environment="local"\} 0$/m);
  });
});
