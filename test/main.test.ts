import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ROOT, runMain, synthEnvironments, tempDirs, type MainRun } from "./helpers";

const CONFIG_DIR = join(ROOT, "config");

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
