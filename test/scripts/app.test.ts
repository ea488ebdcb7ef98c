import { cpSync, existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { listFiles, ROOT, runApp, runMain, tempDirs } from "../helpers";

describe("scripts/app.mjs (the app in cdktf.json)", () => {
  const dir = tempDirs();

  it("is what cdktf runs", () => {
    expect(JSON.parse(readFileSync(join(ROOT, "cdktf.json"), "utf8")).app).toBe("node scripts/app.mjs");
    expect(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts.synth).toBe("node scripts/app.mjs");
  });

  it("writes the same bytes as main.ts run through tsx, every file of every environment", async () => {
    const viaTsx = dir("app-tsx");
    const viaBundle = dir("app-bundle");

    const [a, b] = await Promise.all([runMain({ CDKTF_OUTDIR: viaTsx }), runApp({ CDKTF_OUTDIR: viaBundle })]);

    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const files = listFiles(viaTsx).map((f) => relative(viaTsx, f));
    expect(files.filter((f) => f.endsWith("cdk.tf.json"))).toHaveLength(4);
    expect(listFiles(viaBundle).map((f) => relative(viaBundle, f))).toEqual(files);
    for (const file of files) {
      expect(readFileSync(join(viaBundle, file), "utf8"), file).toBe(readFileSync(join(viaTsx, file), "utf8"));
    }
  });

  describe("in a copy of the project", () => {
    // the sources, config and launcher copied; node_modules linked (the bundle's cache is per checkout path).
    const copy = dir("app-copy");
    for (const entry of ["main.ts", "constructs", "stacks", "config", "scripts", "package.json", "tsconfig.json", "cdktf.json"]) {
      cpSync(join(ROOT, entry), join(copy, entry), { recursive: true });
    }
    symlinkSync(join(ROOT, "node_modules"), join(copy, "node_modules"));
    // the copy's bundle, kept in the shared node_modules under a hash of the copy's path.
    const cache = join(ROOT, "node_modules", ".cache", "keybuzz-app", createHash("sha1").update(copy).digest("hex").slice(0, 12));
    afterAll(() => rmSync(cache, { recursive: true, force: true }));
    const mount = join(copy, "constructs", "secrets-mount.ts");
    const localStack = (out: string) => readFileSync(join(out, "stacks", "keybuzz-local", "cdk.tf.json"), "utf8");
    const synth = (out: string) => runApp({ CDKTF_OUTDIR: out, KEYBUZZ_ENVIRONMENTS: "local" }, copy);

    it("bundles on the first run, then reuses the bundle while nothing changed", async () => {
      const first = await synth(dir("app-first"));
      const second = await synth(dir("app-second"));

      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toBe("[app] bundling main.ts\n");
      expect(second.code).toBe(0);
      expect(second.stdout).toBe("");
      expect(second.stderr).toBe("");
    });

    it("picks up an edited source file without a manual step, and says which", async () => {
      const names = join(copy, "stacks", "keybuzz-names.ts");
      const edited = readFileSync(names, "utf8").replace('"KeyBuzz dynamic PostgreSQL credentials"', '"edited description"');
      expect(edited).toContain('"edited description"');
      writeFileSync(names, edited);
      const out = dir("app-edited");

      const run = await synth(out);

      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toBe("[app] bundling main.ts (changed: stacks/keybuzz-names.ts)\n");
      expect(localStack(out)).toContain('"description": "edited description"');
    });

    it("stops with esbuild's message naming the file and line when a source does not compile, writing nothing", async () => {
      writeFileSync(mount, `${readFileSync(mount, "utf8")}\nexport const broken = ;\n`);
      const out = join(dir("app-broken"), "out");

      const run = await synth(out);

      expect(run.code).toBe(1);
      expect(run.stderr).toContain("[app] could not bundle main.ts:");
      expect(run.stderr).toMatch(/constructs\/secrets-mount\.ts:\d+:\d+: ERROR: Unexpected ";"/);
      expect(existsSync(out)).toBe(false);
    });
  });
});
