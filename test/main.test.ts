import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ROOT, runMain, synthEnvironments, tempDir, tempDirs, type MainRun } from "./helpers";
import { RULES as ERROR_RULES } from "./stacks/environment/cases/errors";
import { RULES as FIELD_RULES } from "./stacks/environment/cases/fields";
import { RULES as CROSS_FIELD_RULES, PROD_RULES } from "./stacks/environment/cases/rules";
import { RULES as SCHEMA_RULES } from "./stacks/environment/cases/schema";
import { changed, DEV, IDENTIFIER, PROD, problem } from "./stacks/environment/fixture";

const CONFIG_DIR = join(ROOT, "config");
/** Every rule an environment file is checked on, whichever source file holds it: main.ts reports each. */
const RULES = [...FIELD_RULES, ...SCHEMA_RULES, ...ERROR_RULES, ...CROSS_FIELD_RULES];

describe("main.ts", () => {
  const dir = tempDirs();

  describe("over the committed config", () => {
    let run: MainRun;
    let out: string;
    beforeAll(async () => {
      out = dir("main-out");
      run = await runMain({ CDKTF_OUTDIR: out });
    });

    it("exits 0 quietly", () => {
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
    });

    it("writes one stack per environment file and a manifest", () => {
      expect(readdirSync(join(out, "stacks")).sort()).toEqual(["keybuzz-dev", "keybuzz-local", "keybuzz-prod", "keybuzz-staging"]);
      expect(Object.keys(JSON.parse(readFileSync(join(out, "manifest.json"), "utf8")).stacks).sort()).toEqual([
        "keybuzz-dev",
        "keybuzz-local",
        "keybuzz-prod",
        "keybuzz-staging",
      ]);
    });

    it("writes what KeybuzzStack synthesizes in-process, byte for byte", () => {
      const expected = synthEnvironments(CONFIG_DIR, dir("main-inprocess"));

      for (const [env, text] of Object.entries(expected)) {
        expect(readFileSync(join(out, "stacks", `keybuzz-${env}`, "cdk.tf.json"), "utf8"), env).toBe(text);
      }
    });
  });

  it("needs no terraform binary: with nothing on PATH it writes every stack, moved blocks included", async () => {
    const out = dir("main-no-path");

    const run = await runMain({ CDKTF_OUTDIR: out, PATH: "/nonexistent" });

    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(JSON.parse(readFileSync(join(out, "stacks", "keybuzz-local", "cdk.tf.json"), "utf8")).moved).toHaveLength(8);
  });

  it("synthesizes only the environments in KEYBUZZ_ENVIRONMENTS", async () => {
    const out = dir("main-only");

    const run = await runMain({ CDKTF_OUTDIR: out, KEYBUZZ_ENVIRONMENTS: "prod, dev" });

    expect(run.code).toBe(0);
    expect(readdirSync(join(out, "stacks")).sort()).toEqual(["keybuzz-dev", "keybuzz-prod"]);
  });

  it("fails, writing nothing, when KEYBUZZ_ENVIRONMENTS names an environment without a file", async () => {
    const out = dir("main-missing");

    const run = await runMain({ CDKTF_OUTDIR: out, KEYBUZZ_ENVIRONMENTS: "dev,qa" });

    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${join(CONFIG_DIR, "qa.json")}: no such environment file`);
    expect(existsSync(join(out, "stacks"))).toBe(false);
  });

  it("writes no stack, not even a valid one, when one file is invalid", async () => {
    // GIVEN
    const config = dir("main-config");
    const out = dir("main-out");
    writeFileSync(join(config, "dev.json"), readFileSync(join(CONFIG_DIR, "dev.json")));
    writeFileSync(join(config, "prod.json"), "{ not json");

    // WHEN
    const run = await runMain({ KEYBUZZ_CONFIG_DIR: config, CDKTF_OUTDIR: out });

    // THEN
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("invalid configuration, nothing synthesized:");
    expect(run.stderr).toContain(`${relative(ROOT, join(config, "prod.json"))}: not valid JSON`);
    expect(existsSync(join(out, "stacks"))).toBe(false);
  });
});

describe("main.ts with an invalid configuration", () => {
  /** Runs main.ts over a temp folder holding the given files; returns the run, the folder and the outdir. */
  async function synthFolder(files: Record<string, string>) {
    const config = tempDir("config");
    const out = tempDir("out");
    for (const [name, text] of Object.entries(files)) writeFileSync(join(config.path, name), text);
    try {
      const run = await runMain({ KEYBUZZ_CONFIG_DIR: config.path, CDKTF_OUTDIR: out.path });
      return { run, shown: (f: string) => relative(ROOT, join(config.path, f)), wrote: existsSync(join(out.path, "stacks")) };
    } finally {
      config.remove();
      out.remove();
    }
  }

  describe("one file per rule, in one run", () => {
    let run: MainRun;
    let wrote: boolean;
    let shown: (file: string) => string;
    // every rule's file is named after its index: main.ts validates them all and reports every problem.
    const fileOf = (i: number) => `rule-${String(i).padStart(2, "0")}.json`;
    beforeAll(async () => {
      const files: Record<string, string> = Object.fromEntries(RULES.map((r, i) => [fileOf(i), changed(DEV, r.change)]));
      // only prod.json is held to the prod rules: break them all in it at once.
      files["prod.json"] = changed(PROD, (c) => {
        for (const r of PROD_RULES) r.change(c);
      });
      ({ run, wrote, shown } = await synthFolder(files));
    });

    it("exits non-zero without writing any stack", () => {
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(/^invalid configuration, nothing synthesized:\n/);
      expect(wrote).toBe(false);
    });

    it.each(RULES.map((r, i) => ({ ...r, i })))("reports $rule, naming the file, the field and the value", ({ i, field, says, got }) => {
      const lines = run.stderr.split("\n").map((l) => l.trim());

      expect(lines).toContainEqual(problem(shown(fileOf(i)), field, says, got));
    });

    it("reports the prod rules in prod.json", () => {
      const lines = run.stderr.split("\n").map((l) => l.trim());

      // the last sslmode applied wins.
      expect(lines).toContainEqual(problem(shown("prod.json"), "postgres.sslmode", "prod must verify", '"require"'));
      expect(lines).toContainEqual(problem(shown("prod.json"), "vaultAdmin.superuser", "acknowledgeSuperuserInProd", "superuser: true without it"));
      expect(lines).toContainEqual(problem(shown("prod.json"), "vault.address", "prod must use https", '"http://vault.keybuzz.io:8200"'));
      expect(lines).toContainEqual(
        problem(shown("prod.json"), "auth.kubernetes.bindings[0](keybuzz-api).serviceAccounts[0]", "not the wildcard", '"*"'),
      );
      expect(lines).toContainEqual(problem(shown("prod.json"), "auth.kubernetes.bindings[1](chatwoot).namespaces[1]", "not the wildcard", '"*"'));
    });
  });

  describe.concurrent("one rule alone", () => {
    it("stops at an unsafe base role name", async () => {
      const bad = changed(DEV, (c) => (c.applications[1].baseRole = 'chatwoot"; DROP TABLE x; --'));

      const { run, wrote, shown } = await synthFolder({ "dev.json": bad, "staging.json": DEV });

      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`${shown("dev.json")}: applications[1](chatwoot).baseRole: ${IDENTIFIER}`);
      expect(run.stderr).toContain(`(got "chatwoot\\"; DROP TABLE x; --")`);
      expect(wrote).toBe(false);
    });

    it("stops at a defaultTtl above maxTtl", async () => {
      const bad = changed(DEV, (c) => Object.assign(c.applications[2], { defaultTtl: "36h", maxTtl: "24h" }));

      const { run, wrote, shown } = await synthFolder({ "dev.json": bad });

      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`${shown("dev.json")}: applications[2](n8n).defaultTtl: must not exceed maxTtl: 129600s > 86400s (got "36h")`);
      expect(wrote).toBe(false);
    });

    it("stops at a prod sslmode that does not verify the server", async () => {
      const bad = changed(PROD, (c) => (c.postgres.sslmode = "prefer"));

      const { run, wrote, shown } = await synthFolder({ "prod.json": bad, "dev.json": DEV });

      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`${shown("prod.json")}: postgres.sslmode: prod must verify the server certificate`);
      expect(run.stderr).toContain('(got "prefer")');
      expect(wrote).toBe(false);
    });

    it("synthesizes a SUPERUSER vault_admin in prod once acknowledged", async () => {
      const ok = changed(PROD, (c) => Object.assign(c.vaultAdmin, { superuser: true, acknowledgeSuperuserInProd: true }));

      const { run, wrote } = await synthFolder({ "prod.json": ok });

      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      expect(wrote).toBe(true);
    });
  });
});
