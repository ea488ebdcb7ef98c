/**
 * Produces the two `cdktf.out` folders a review compares: the working tree's, and the base's, where the
 * base is either an existing folder or a git ref checked out into a temporary worktree and synthesized
 * there with this project's installed dependencies.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const PROJECT_ROOT = resolve(__dirname, "..");

function progress(message: string): void {
  process.stderr.write(`[review] ${message}\n`);
}

/** Runs `main.ts` of `root` with tsx's loader, writing stacks to `outDir`; throws with its stderr on failure. */
export function synthesize(root: string, outDir: string, what: string): void {
  const started = Date.now();
  const { KEYBUZZ_CONFIG_DIR: _dir, KEYBUZZ_ENVIRONMENTS: _envs, ...env } = process.env;
  // `--import tsx` (not the tsx CLI) skips a second process: about half the time of a small synth.
  const result = spawnSync(process.execPath, ["--import", "tsx", join(root, "main.ts")], {
    cwd: root,
    env: { ...env, CDKTF_OUTDIR: outDir },
    encoding: "utf8",
  });
  if (result.status !== 0) {
    throw new Error(`could not synthesize ${what}:\n${(result.stderr || result.stdout || String(result.error)).trim()}`);
  }
  progress(`synthesized ${what} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * The base's synth output: `base` itself when it is a folder (an existing `cdktf.out`), otherwise the
 * git ref `base` synthesized in a temporary worktree. Returns the folder and a cleanup function.
 */
export function synthesizeBase(base: string): { outDir: string; label: string; cleanup: () => void } {
  if (existsSync(base)) {
    if (!existsSync(join(base, "stacks"))) throw new Error(`--base ${base}: a folder must be a synth output (with stacks/ inside)`);
    return { outDir: resolve(base), label: base, cleanup: () => undefined };
  }
  const sha = spawnSync("git", ["rev-parse", "--verify", "--quiet", `${base}^{commit}`], { cwd: PROJECT_ROOT, encoding: "utf8" });
  if (sha.status !== 0) throw new Error(`--base ${base}: neither a folder nor a git ref of this repository`);
  const commit = sha.stdout.trim();
  const tmp = mkdtempSync(join(tmpdir(), "keybuzz-review-"));
  const tree = join(tmp, "tree");
  const outDir = join(tmp, "cdktf.out");
  const cleanup = () => {
    spawnSync("git", ["worktree", "remove", "--force", tree], { cwd: PROJECT_ROOT });
    rmSync(tmp, { recursive: true, force: true });
  };
  try {
    const add = spawnSync("git", ["worktree", "add", "--detach", "--quiet", tree, commit], { cwd: PROJECT_ROOT, encoding: "utf8" });
    if (add.status !== 0) throw new Error(`git worktree add ${base} failed: ${add.stderr.trim()}`);
    if (existsSync(join(tree, "main.ts"))) {
      // the base's code with this checkout's dependencies: good enough while package.json changes rarely.
      symlinkSync(join(PROJECT_ROOT, "node_modules"), join(tree, "node_modules"), "dir");
      synthesize(tree, outDir, `${base} (${commit.slice(0, 12)})`);
    } else {
      progress(`${base} has no main.ts: every stack counts as new`);
    }
  } catch (err) {
    cleanup();
    throw err;
  }
  return { outDir, label: `${base} (${commit.slice(0, 12)})`, cleanup };
}
