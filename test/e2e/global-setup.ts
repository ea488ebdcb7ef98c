/**
 * Runs once before the real-server suites, and returns at once: it builds (or finds in the tool cache) their
 * tools in the background, stage by stage (scripts/test-run/stages.ts: OpenTofu, both providers, OpenBao and
 * PostgreSQL 17's Debian trixie root; then HashiCorp Vault; then Patroni, etcd and HAProxy from Debian's
 * packages; then kube-apiserver, kubectl, etcd and the Vault Agent Injector), one `tools/build.sh` call per
 * stage, and writes each stage's manifest where the suites wait for it (fixture/toolchain.ts). So on a bare
 * machine the first suites run while the later tools build; with the tools cached every stage is ready in
 * seconds.
 *
 * A stage that cannot be built here (no PostgreSQL binaries, no root for PostgreSQL 17's chroot, apt or the
 * injector's mount namespace, a failed build) fails a CI run (CI=true); elsewhere the suites that need it
 * skip, saying what is missing. KEYBUZZ_E2E_PG17=0 leaves PostgreSQL 17 out; KEYBUZZ_E2E_HA=0 the HA
 * topology, KEYBUZZ_E2E_KUBERNETES=0 the Kubernetes tools (a 14-minute cold build), whose suites then skip. A CI run
 * refuses these and every other variable that proves less (REDUCING_VARIABLES in scripts/test-run/stages.ts).
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { postgresBinDir } from "../../harness/postgres";
import { buildTools, POSTGRES_17, postgres17Missing } from "../../harness/toolchain";
import { reductions, STAGES, type StageName } from "../../scripts/test-run/stages";
import "./fixture/toolchain"; // its ProvidedContext declaration

/** Why a stage cannot be built on this machine, before trying; undefined when it can. */
function cannotBuild(stage: StageName): string | undefined {
  if (stage === "bao" && !postgresBinDir()) return "the PostgreSQL server binaries (initdb, pg_ctl): install postgresql or set PG_BINDIR";
  if (stage === "ha" && process.env.KEYBUZZ_E2E_HA === "0") return "the HA topology (left out with KEYBUZZ_E2E_HA=0)";
  if (stage === "kubernetes" && process.env.KEYBUZZ_E2E_KUBERNETES === "0") return "the Kubernetes tools (left out with KEYBUZZ_E2E_KUBERNETES=0)";
  if (stage === "monitoring" && process.getuid?.() !== 0) return "root, for apt-get to install Debian's Alertmanager";
  if ((stage === "ha" || stage === "kubernetes") && process.getuid?.() !== 0) {
    return stage === "ha"
      ? "the HA topology: installing Patroni, etcd and HAProxy with apt-get needs root"
      : "root, for the Vault Agent Injector's mount namespace (and apt-get for etcd)";
  }
  return undefined;
}

export default function setup(project: TestProject): () => Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "keybuzz-e2e-tools-"));
  const postgres17 = process.env.KEYBUZZ_E2E_PG17 !== "0";
  const pg17Missing = postgres17 ? postgres17Missing() : undefined;
  const write = (stage: string, ext: "json" | "error", text: string) => {
    writeFileSync(join(dir, `.${stage}.${ext}`), text);
    renameSync(join(dir, `.${stage}.${ext}`), join(dir, `${stage}.${ext}`));
  };
  const reasons = STAGES.map((s) => ({ stage: s, missing: s.name === "bao" ? (cannotBuild("bao") ?? pg17Missing) : cannotBuild(s.name) }));
  if (process.env.CI === "true") {
    const reduced = reductions(process.env);
    if (reduced.length) throw new Error(`a CI run proves everything; unset ${reduced.join(", ")}`);
    const blocked = reasons.filter((r) => r.missing);
    if (blocked.length) throw new Error(`the real-server suites cannot run in CI: missing ${blocked.map((r) => r.missing).join("; ")}`);
  }
  const abort = new AbortController();
  const started = Date.now();
  // one stage after another (build.sh builds one tool at a time per cache anyway); not awaited: the suites
  // start now and wait for what they need.
  const background = (async () => {
    let failed: string | undefined;
    for (const { stage, missing } of reasons) {
      if (missing || failed) {
        write(stage.name, "error", missing ?? `${stage.label}: not built, because an earlier stage failed: ${failed}`);
        if (missing) process.stderr.write(`[e2e] not building ${stage.label}: missing ${missing}\n`);
        continue;
      }
      const tools = stage.tools.filter((t) => t !== POSTGRES_17 || postgres17);
      try {
        const manifest = await buildTools(tools, undefined, abort.signal);
        write(stage.name, "json", JSON.stringify(manifest));
        process.stderr.write(`[e2e] ${stage.label} ready, ${((Date.now() - started) / 1000).toFixed(1)} s after the start\n`);
      } catch (err) {
        failed = (err as Error).message;
        write(stage.name, "error", failed);
      }
    }
  })();
  project.provide("toolStages", { dir, postgres17 });
  return async () => {
    abort.abort();
    await background;
    rmSync(dir, { recursive: true, force: true });
  };
}
