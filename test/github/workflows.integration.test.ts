/**
 * The GitHub Actions workflows in .github/workflows/:
 *  - linted by the real actionlint (pinned in tools/actionlint/go.mod + go.sum, built from the Go
 *    module proxy by `tools/build.sh actionlint` and cached), which must also catch a deliberately broken copy;
 *  - the plan-review workflow's contract checked structurally (trigger, least-privilege permissions,
 *    pinned actions, the npm steps, the one PR comment found by its marker, the label gate).
 *
 * Needs Go on PATH (CI has it): without it these tests fail, they do not skip.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";

const ROOT = join(__dirname, "..", "..");
const WORKFLOWS_DIR = join(ROOT, ".github", "workflows");
const PLAN_REVIEW = join(WORKFLOWS_DIR, "plan-review.yml");
const ACTIONLINT_MODULE = join(ROOT, "tools", "actionlint");
const ACTIONLINT_PKG = "github.com/rhysd/actionlint/cmd/actionlint";
const ACTIONLINT_VERSION = "v1.7.12";
const MARKER = "<!-- keybuzz-plan-review -->";
const REVIEWED_LABEL = "plan-reviewed";

/** A cold build of actionlint takes 30-90 s on two cores, after any other build holding the tool cache's lock. */
const BUILD_TIMEOUT_MS = 900_000;

const tmpDirs: string[] = [];
afterAll(() => {
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tmpDirs.push(dir);
  return dir;
}

let actionlintPath: string | undefined;

/** The pinned actionlint, built (or found in the cache) by `tools/build.sh actionlint`, like every other tool. */
function actionlint(): string {
  if (actionlintPath) return actionlintPath;
  const build = spawnSync("bash", [join(ROOT, "tools", "build.sh"), "actionlint"], { encoding: "utf8", timeout: BUILD_TIMEOUT_MS - 10_000 });
  process.stderr.write(build.stderr);
  if (build.error || build.status !== 0) {
    throw new Error(`tools/build.sh actionlint failed (status ${build.status}): ${build.error?.message ?? ""}\n${build.stderr}`);
  }
  actionlintPath = (JSON.parse(build.stdout) as { actionlint: string }).actionlint;
  return actionlintPath;
}

interface LintError {
  message: string;
  filepath: string;
  line: number;
  column: number;
  kind: string;
}

/**
 * Runs actionlint on the given files. shellcheck and pyflakes are turned off so the result is the same
 * on every machine, whatever is installed there.
 */
function runActionlint(files: string[], cwd: string, json = false) {
  const args = ["-no-color", "-shellcheck=", "-pyflakes="];
  if (json) args.push("-format", "{{json .}}");
  const run = spawnSync(actionlint(), [...args, ...files], { cwd, encoding: "utf8" });
  if (run.error) throw run.error;
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

function workflowFiles(): string[] {
  return readdirSync(WORKFLOWS_DIR)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(".github", "workflows", f));
}

describe("actionlint", () => {
  it(`is pinned at ${ACTIONLINT_VERSION} in tools/actionlint`, () => {
    const goMod = readFileSync(join(ACTIONLINT_MODULE, "go.mod"), "utf8");
    expect(goMod).toMatch(new RegExp(`^require github\\.com/rhysd/actionlint ${ACTIONLINT_VERSION.replace(/\./g, "\\.")}$`, "m"));
    expect(readFileSync(join(ACTIONLINT_MODULE, "go.sum"), "utf8")).toContain(`github.com/rhysd/actionlint ${ACTIONLINT_VERSION} h1:`);
    const toolsGo = readFileSync(join(ACTIONLINT_MODULE, "tools.go"), "utf8");
    expect(toolsGo).toMatch(/^\/\/go:build tools$/m);
    expect(toolsGo).toContain(`_ "${ACTIONLINT_PKG}"`);
  });

  it(
    "finds nothing in .github/workflows/",
    () => {
      const files = workflowFiles();
      expect(files).toContain(join(".github", "workflows", "plan-review.yml"));
      const run = runActionlint(files, ROOT);
      expect(run.stdout + run.stderr).toBe("");
      expect(run.status).toBe(0);
    },
    BUILD_TIMEOUT_MS,
  );

  it(
    "reports a broken copy: an unknown runner label, and a PR title interpolated into run:",
    () => {
      const original = readFileSync(PLAN_REVIEW, "utf8");
      const badLabel = original.replace(/runs-on: \S+/, "runs-on: ubuntu-no-such-runner");
      const injection = original.replace('--base "origin/${BASE_REF}"', '--base "${{ github.event.pull_request.title }}"');
      expect(badLabel).not.toBe(original);
      expect(injection).not.toBe(original);

      const dir = tempDir("keybuzz-actionlint-");
      mkdirSync(join(dir, ".github", "workflows"), { recursive: true });
      writeFileSync(join(dir, ".github", "workflows", "bad-label.yml"), badLabel);
      writeFileSync(join(dir, ".github", "workflows", "injection.yml"), injection);

      const run = runActionlint([join(".github", "workflows", "bad-label.yml"), join(".github", "workflows", "injection.yml")], dir, true);
      expect(run.status, run.stderr).toBe(1);
      const errors = JSON.parse(run.stdout) as LintError[];
      expect(errors).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            filepath: join(".github", "workflows", "bad-label.yml"),
            kind: "runner-label",
            message: expect.stringContaining('"ubuntu-no-such-runner" is unknown'),
          }),
          expect.objectContaining({
            filepath: join(".github", "workflows", "injection.yml"),
            kind: "expression",
            message: expect.stringContaining('"github.event.pull_request.title" is potentially untrusted'),
          }),
        ]),
      );
    },
    BUILD_TIMEOUT_MS,
  );
});

interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  env?: Record<string, unknown>;
  with?: Record<string, unknown>;
}

describe("plan-review workflow", () => {
  const raw = readFileSync(PLAN_REVIEW, "utf8");
  const wf = parse(raw);
  const jobs = Object.values(wf.jobs ?? {}) as Array<Record<string, any>>;
  const job = jobs[0];
  const steps = (job?.steps ?? []) as Step[];
  const index = (pred: (s: Step) => boolean, what: string) => {
    const i = steps.findIndex(pred);
    expect(i, `no step ${what}`).toBeGreaterThanOrEqual(0);
    return i;
  };
  const runs = (cmd: RegExp) => (s: Step) => typeof s.run === "string" && cmd.test(s.run);

  it("has one job, for pull_request events (also labeled/unlabeled, for the label gate)", () => {
    expect(jobs).toHaveLength(1);
    expect(Object.keys(wf.on)).toEqual(["pull_request"]);
    expect(wf.on.pull_request.types).toEqual(["opened", "synchronize", "reopened", "labeled", "unlabeled"]);
  });

  it("asks for the least privilege: contents read, pull-requests write (PR comments), nothing else", () => {
    expect(wf.permissions).toEqual({ contents: "read", "pull-requests": "write" });
    for (const j of jobs) expect(j.permissions).toBeUndefined();
  });

  it("runs one at a time per PR, cancelling the older run; with no cdktf telemetry", () => {
    expect(wf.concurrency.group).toContain("${{ github.event.pull_request.number }}");
    expect(wf.concurrency["cancel-in-progress"]).toBe(true);
    expect(String(job.env.CHECKPOINT_DISABLE)).toBe("1");
  });

  it("pins every action to a full commit SHA with its version as a comment", () => {
    const uses = steps.filter((s) => s.uses !== undefined).map((s) => s.uses as string);
    expect(uses.length).toBeGreaterThanOrEqual(3);
    for (const u of uses) expect(u).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/);
    const usesLines = raw.split("\n").filter((l) => /^\s*(-\s+)?uses:/.test(l));
    expect(usesLines).toHaveLength(uses.length);
    for (const l of usesLines) expect(l).toMatch(/uses: [\w.-]+\/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
  });

  it("checks out the full history (the base branch is compared) without keeping the token", () => {
    const checkout = steps[index((s) => s.uses?.startsWith("actions/checkout@") ?? false, "actions/checkout")];
    expect(checkout.with).toMatchObject({ "fetch-depth": 0, "persist-credentials": false });
    const node = steps[index((s) => s.uses?.startsWith("actions/setup-node@") ?? false, "actions/setup-node")];
    expect(node.with).toMatchObject({ "node-version": 20, cache: "npm" });
  });

  it("installs, tests, synthesizes, then reviews against the base with --fail-on risky", () => {
    const ci = index(runs(/^npm ci$/m), "npm ci");
    const unit = index(runs(/^npm run test:unit$/m), "npm run test:unit");
    const synth = index(runs(/^npm run synth$/m), "npm run synth");
    const review = index(runs(/npm run review -- --base /), "npm run review");
    expect(ci).toBeLessThan(unit);
    expect(unit).toBeLessThan(synth);
    expect(synth).toBeLessThan(review);

    const step = steps[review];
    expect(step.id).toBe("review");
    expect(step.run).toMatch(/npm run review -- --base "origin\/\$\{BASE_REF\}" --out review\.md --fail-on risky$/m);
    expect(step.env).toEqual({ BASE_REF: "${{ github.base_ref }}" });
    // the exit code is an output; the step survives 2 but not 1
    expect(step.run).toMatch(/^set \+e$/m);
    expect(step.run).toContain('echo "exit-code=${code}" >> "$GITHUB_OUTPUT"');
    expect(step.run).toMatch(/^\s*exit 1$/m);
  });

  it("never interpolates an expression into a run: script (untrusted input goes through env:)", () => {
    for (const s of steps) if (s.run !== undefined) expect(s.run, s.name).not.toContain("${{");
  });

  it("posts or updates one PR comment, found by its marker, with review.md", () => {
    const review = index((s) => s.id === "review", "review");
    const i = index((s) => s.uses?.startsWith("actions/github-script@") ?? false, "actions/github-script");
    expect(i).toBeGreaterThan(review);
    const script = String(steps[i].with?.script);
    expect(script).toContain(`const marker = '${MARKER}';`);
    expect(script).toContain(".startsWith(marker)");
    expect(script).toContain("'github-actions[bot]'");
    expect(script).toContain("fs.readFileSync('review.md', 'utf8')");
    expect(script).toContain("github.rest.issues.listComments");
    expect(script).toContain("github.rest.issues.updateComment");
    expect(script).toContain("github.rest.issues.createComment");
  });

  it(`fails last when the review found risky changes and the PR lacks the ${REVIEWED_LABEL} label`, () => {
    const gate = steps[steps.length - 1];
    expect(gate.if).toBe("steps.review.outputs.exit-code == '2'");
    expect(gate.env).toEqual({ HAS_LABEL: `\${{ contains(github.event.pull_request.labels.*.name, '${REVIEWED_LABEL}') }}` });
    expect(gate.run).toContain('if [ "$HAS_LABEL" = "true" ]; then');
    expect(gate.run).toMatch(/^echo "::error::.*add the 'plan-reviewed' label.*"$/m);
    expect(gate.run).toMatch(/exit 1\n?$/);
  });
});
