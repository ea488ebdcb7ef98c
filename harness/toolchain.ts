/**
 * The programs a local deploy needs: a Terraform engine (OpenTofu), the two providers at exactly the
 * versions the synthesized JSON pins (in a filesystem mirror, so nothing asks a registry), a Vault-API
 * server (OpenBao, or HashiCorp Vault) and PostgreSQL's server binaries.
 *
 * `tools/build.sh` builds the Go ones from pinned sources and caches them (tools/README.md); this module
 * runs it, streaming its progress. {@link prepareToolchain} is what the real-server suite uses (every
 * server it tests against, built); {@link findTools} what the sandbox uses (programs on PATH first,
 * building only what is missing); {@link prepareKubernetes} what the Kubernetes harness (harness/kubernetes.ts)
 * uses.
 */
import type { MonitoringTools } from "./monitoring";
import { execFileSync, spawn } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { MIN_ENGINE_VERSION } from "../constructs/vocabulary";
import { postgresBinDir } from "./postgres";
import type { HaPrograms } from "./patroni";
import { PROJECT_ROOT } from "./stack";

/** A PostgreSQL server to run. */
export interface PostgresServer {
  /** Its major version, e.g. 15 or 17. */
  readonly major: number;
  /** The folder of initdb and pg_ctl; a path inside `root` when there is one. */
  readonly binDir: string;
  /** A root folder the server runs in with chroot (PostgresOptions.root); absent for the machine's own. */
  readonly root?: string;
}

/** What the real-server suite runs with. */
export interface Toolchain {
  /** OpenTofu. */
  readonly tofu: string;
  /** OpenBao (`bao`). */
  readonly bao: string;
  /** HashiCorp Vault (`vault`), the second server. */
  readonly vault: string;
  /** CLI config whose provider_installation is the local filesystem mirror only. */
  readonly cliConfig: string;
  /** Every PostgreSQL server to test against: the machine's own first, then PostgreSQL 17 if asked for. */
  readonly postgres: readonly PostgresServer[];
  /** Patroni, etcd and HAProxy for the high-availability topology, if asked for. */
  readonly ha?: HaPrograms;
}

/** The tools/build.sh names of the suite's Go tools. */
export const TOOLS = ["bao", "vault", "tofu", "provider-vault", "provider-postgresql"] as const;
/** The tools/build.sh name of the Debian trixie root with PostgreSQL 17 (not a Go tool; needs root and debootstrap). */
export const POSTGRES_17 = "postgres-17";
/** The tools/build.sh name of Patroni, etcd and HAProxy (Debian packages, installed with apt-get when missing). */
export const HA_TOPOLOGY = "ha-topology";
/**
 * The tools/build.sh names of the Kubernetes harness's programs (harness/kubernetes.ts): the API server
 * (k8s.io/kubernetes, a long cold build), etcd (Debian's etcd-server, installed with apt-get when missing) and
 * the Vault Agent Injector (vault-k8s, from its pinned source archive). Only built when named.
 */
export const KUBERNETES_TOOLS = ["kube-apiserver", "etcd", "vault-k8s"] as const;

/** The manifest tools/build.sh prints: one path per tool built, the mirror's CLI config, the PostgreSQL 17 root. */
export interface BuildManifest {
  readonly bao?: string;
  readonly vault?: string;
  readonly tofu?: string;
  readonly cliConfig?: string;
  readonly pluginMirror?: string;
  readonly postgres17Root?: string;
  readonly postgres17BinDir?: string;
  readonly patroni?: string;
  readonly patronictl?: string;
  readonly etcd?: string;
  readonly haproxy?: string;
  readonly kubeApiserver?: string;
  readonly kubectl?: string;
  readonly vaultK8s?: string;
  /** Node.js 24 (`tools/build.sh node-24`, and `cdktn`, which runs on it). */
  readonly node24?: string;
  /** The folder whose node_modules/ holds CDK Terrain (`tools/build.sh cdktn`). */
  readonly cdktn?: string;
  /** The monitoring pipeline's programs (`tools/build.sh prometheus alertmanager mtail node-exporter`). */
  readonly prometheus?: string;
  readonly "prometheus-alertmanager"?: string;
  readonly mtail?: string;
  readonly nodeExporter?: string;
  readonly postgresExporter?: string;
}

/** What the Kubernetes harness runs with (harness/kubernetes.ts). */
export interface KubernetesTools {
  /** kube-apiserver v1.37.2. */
  readonly kubeApiserver: string;
  /** etcd (Debian's etcd-server, 3.4.23 on bookworm). */
  readonly etcd: string;
  /** vault-k8s 1.7.6, the Vault Agent Injector. */
  readonly vaultK8s: string;
}

/** The major version of the PostgreSQL server binaries in `binDir`, from `pg_ctl --version` (e.g. "pg_ctl (PostgreSQL) 15.20 ..."). */
export function postgresMajor(binDir: string): number {
  return parsePostgresMajor(execFileSync(resolve(binDir, "pg_ctl"), ["--version"]).toString(), binDir);
}

/** The major version in `pg_ctl --version`'s output `out` ("pg_ctl (PostgreSQL) 15.20 ..." → 15); throws naming `binDir` when it has none. */
export function parsePostgresMajor(out: string, binDir: string): number {
  const m = /\(PostgreSQL\) (\d+)/.exec(out);
  if (!m) throw new Error(`cannot tell the PostgreSQL version of ${binDir} from: ${out.trim()}`);
  return Number(m[1]);
}

/** The first executable `name` on PATH, or undefined. */
export function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here.
    }
  }
  return undefined;
}

/**
 * Runs `tools/build.sh <names>`, its progress (one `[tools] …` line per step) going to `progress`;
 * resolves with the manifest, or rejects with build.sh's ERROR lines (which name the tool and what it needs).
 * Aborting `signal` stops the build (build.sh and the `go build` it runs: its whole process group).
 */
export function buildTools(
  names: readonly string[],
  progress: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
  signal?: AbortSignal,
): Promise<BuildManifest> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn("bash", [resolve(PROJECT_ROOT, "tools/build.sh"), ...names], {
      stdio: ["ignore", "pipe", "pipe"],
      detached: signal !== undefined,
    });
    const stop = () => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGTERM");
      } catch {
        // already gone.
      }
    };
    signal?.addEventListener("abort", stop, { once: true });
    let stdout = "";
    let stderr = "";
    let partial = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c));
    child.stderr.on("data", (c: Buffer) => {
      stderr += c;
      const lines = (partial + c.toString()).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) if (line.trim()) progress(line);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      signal?.removeEventListener("abort", stop);
      if (partial.trim()) progress(partial);
      if (code === 0) {
        resolvePromise(JSON.parse(stdout) as BuildManifest);
        return;
      }
      if (signal?.aborted) {
        reject(new Error(`tools/build.sh ${names.join(" ")} was stopped`));
        return;
      }
      reject(new Error(buildFailure(names, code, stderr, onPath("go") !== undefined)));
    });
  });
}

/**
 * The message of a failed `tools/build.sh <names>`: its ERROR lines (all of stderr when it printed none),
 * and a hint when Go, which builds the tools, is not on PATH.
 */
export function buildFailure(names: readonly string[], code: number | null, stderr: string, goOnPath: boolean): string {
  const errors = stderr
    .split("\n")
    .filter((l) => l.includes("ERROR:"))
    .join("\n");
  const noGo = goOnPath ? "" : "\n(Go is not on PATH: the tools are built with it unless they are in the tool cache)";
  return `tools/build.sh ${names.join(" ")} failed (exit ${code}):\n${errors || stderr.trim()}${noGo}`;
}

/**
 * Which of `names` tools/build.sh has in its cache and which it would build (`tools/build.sh --dry-run`: a
 * second or two, nothing built or locked); every name counts as missing when build.sh cannot say.
 */
export function cachedTools(names: readonly string[]): { cached: string[]; missing: string[] } {
  try {
    const out = execFileSync("bash", [resolve(PROJECT_ROOT, "tools/build.sh"), "--dry-run", ...names], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 30_000,
    });
    return JSON.parse(out) as { cached: string[]; missing: string[] };
  } catch {
    return { cached: [], missing: [...names] };
  }
}

/**
 * The suite's toolchain from a tools/build.sh manifest that holds (at least) tofu, the mirror, bao and vault
 * (unless `vault` is false: its path is then empty), and, when asked for, PostgreSQL 17's root and the HA
 * programs; or what is missing from the manifest.
 */
export function toolchainFromManifest(
  manifest: BuildManifest,
  options: { postgres17?: boolean; ha?: boolean; vault?: boolean } = {},
): { toolchain?: Toolchain; missing?: string } {
  const pgBinDir = postgresBinDir();
  if (!pgBinDir) return { missing: "the PostgreSQL server binaries (initdb, pg_ctl): install postgresql or set PG_BINDIR" };
  return toolchainWith(manifest, { major: postgresMajor(pgBinDir), binDir: pgBinDir }, options);
}

/**
 * {@link toolchainFromManifest} once the machine's own PostgreSQL server is known: the toolchain from the
 * manifest, or which of the asked-for programs the manifest lacks.
 */
export function toolchainWith(
  manifest: BuildManifest,
  machinePostgres: PostgresServer,
  options: { postgres17?: boolean; ha?: boolean; vault?: boolean } = {},
): { toolchain?: Toolchain; missing?: string } {
  const postgres: PostgresServer[] = [machinePostgres];
  if (options.postgres17) {
    if (!manifest.postgres17Root || !manifest.postgres17BinDir) {
      return { missing: `PostgreSQL 17: tools/build.sh ${POSTGRES_17} gave no postgres17Root in its manifest: ${JSON.stringify(manifest)}` };
    }
    postgres.push({ major: 17, binDir: manifest.postgres17BinDir, root: manifest.postgres17Root });
  }
  let ha: HaPrograms | undefined;
  if (options.ha) {
    const { patroni, patronictl, etcd, haproxy } = manifest;
    if (!patroni || !patronictl || !etcd || !haproxy) {
      return {
        missing: `the HA topology: tools/build.sh ${HA_TOPOLOGY} gave no patroni, patronictl, etcd and haproxy in its manifest: ${JSON.stringify(manifest)}`,
      };
    }
    ha = { patroni, patronictl, etcd, haproxy };
  }
  const { tofu, bao, vault = "", cliConfig } = manifest;
  const needsVault = options.vault !== false;
  if (!tofu || !bao || (needsVault && !vault) || !cliConfig) {
    return { missing: `tools/build.sh gave no tofu, bao${needsVault ? ", vault" : ""} and cliConfig in its manifest: ${JSON.stringify(manifest)}` };
  }
  return { toolchain: { tofu, bao, vault, cliConfig, postgres, ha } };
}

/** Why PostgreSQL 17 cannot be had here (it runs in a Debian trixie root with chroot), or undefined. */
export function postgres17Missing(): string | undefined {
  return process.getuid?.() === 0
    ? undefined
    : "PostgreSQL 17, which runs in a Debian trixie root with chroot: that needs root " +
        "(run as root, or set KEYBUZZ_E2E_PG17=0 to test the machine's PostgreSQL only)";
}

/**
 * Builds what is missing (progress on stderr) and returns the suite's toolchain, or says exactly what is
 * missing. With `postgres17`, the same tools/build.sh call also makes the Debian trixie root with
 * PostgreSQL 17, and `postgres` lists it after the machine's own server.
 */
export async function prepareToolchain(options: { postgres17?: boolean; ha?: boolean } = {}): Promise<{ toolchain?: Toolchain; missing?: string }> {
  if (!postgresBinDir()) return { missing: "the PostgreSQL server binaries (initdb, pg_ctl): install postgresql or set PG_BINDIR" };
  const pg17 = options.postgres17 ? postgres17Missing() : undefined;
  if (pg17) return { missing: pg17 };
  const names = toolchainBuildNames(options);
  const started = Date.now();
  let manifest: BuildManifest;
  try {
    manifest = await buildTools(names);
  } catch (err) {
    return { missing: (err as Error).message };
  }
  const result = toolchainFromManifest(manifest, options);
  if (result.toolchain) process.stderr.write(`[e2e] toolchain ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return result;
}

/** The tools/build.sh names {@link prepareToolchain} builds: the Go tools, then PostgreSQL 17 and the HA programs when asked for. */
export function toolchainBuildNames(options: { postgres17?: boolean; ha?: boolean } = {}): string[] {
  return [...TOOLS, ...(options.postgres17 ? [POSTGRES_17] : []), ...(options.ha ? [HA_TOPOLOGY] : [])];
}

/**
 * Builds (or finds in the tool cache) the Kubernetes harness's programs with one `tools/build.sh
 * kube-apiserver etcd vault-k8s`, progress on stderr; returns their paths, or says what is missing (etcd is
 * installed with apt-get when missing, which needs root; the injector runs in a mount namespace, which
 * needs root too).
 */
export async function prepareKubernetes(
  progress: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<{ tools?: KubernetesTools; missing?: string }> {
  let manifest: BuildManifest;
  try {
    manifest = await buildTools(KUBERNETES_TOOLS, progress);
  } catch (err) {
    return { missing: (err as Error).message };
  }
  return kubernetesFromManifest(manifest);
}

/** The Kubernetes harness's programs from a tools/build.sh manifest, or what is missing from it. */
export function kubernetesFromManifest(manifest: BuildManifest): { tools?: KubernetesTools; missing?: string } {
  const { kubeApiserver, etcd, vaultK8s } = manifest;
  if (!kubeApiserver || !etcd || !vaultK8s) {
    return {
      missing: `tools/build.sh ${KUBERNETES_TOOLS.join(" ")} gave no kubeApiserver, etcd and vaultK8s in its manifest: ${JSON.stringify(manifest)}`,
    };
  }
  return { tools: { kubeApiserver, etcd, vaultK8s } };
}

/** The tools/build.sh names of the monitoring pipeline (harness/monitoring.ts). */
export const MONITORING_TOOLS = ["prometheus", "alertmanager", "mtail", "node-exporter", "postgres-exporter"] as const;

/** The monitoring pipeline's programs from a build manifest, or what is missing. */
export function monitoringFromManifest(manifest: BuildManifest): { tools?: MonitoringTools; missing?: string } {
  const { prometheus, mtail, nodeExporter, postgresExporter } = manifest;
  const alertmanager = manifest["prometheus-alertmanager"];
  if (!prometheus || !alertmanager || !mtail || !nodeExporter || !postgresExporter) {
    return {
      missing: `tools/build.sh ${MONITORING_TOOLS.join(" ")} gave no prometheus, prometheus-alertmanager, mtail, nodeExporter and postgresExporter in its manifest: ${JSON.stringify(manifest)}`,
    };
  }
  return { tools: { prometheus, alertmanager, mtail, nodeExporter, postgresExporter } };
}

/** The Terraform engines that can deploy the stack (major, minor): its admin password is ephemeral, which needs 1.11. */
const MIN_ENGINE = MIN_ENGINE_VERSION.split(".").slice(0, 2).map(Number) as [number, number];

/** `tofu version` / `terraform version` → [major, minor], or undefined when it cannot tell. */
function engineVersion(binary: string): [number, number] | undefined {
  try {
    return parseEngineVersion(execFileSync(binary, ["version"], { env: { PATH: process.env.PATH, CHECKPOINT_DISABLE: "1" }, encoding: "utf8" }));
  } catch {
    return undefined;
  }
}

/** [major, minor] from `tofu version` / `terraform version` output ("OpenTofu v1.11.2" → [1, 11]), or undefined. */
export function parseEngineVersion(out: string): [number, number] | undefined {
  const m = /^(?:OpenTofu|Terraform) v(\d+)\.(\d+)/m.exec(out);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** Whether an engine of `version` ([major, minor]) can deploy the stack: {@link MIN_ENGINE_VERSION} or later. */
export function engineRecentEnough(version: readonly [number, number]): boolean {
  return version[0] > MIN_ENGINE[0] || (version[0] === MIN_ENGINE[0] && version[1] >= MIN_ENGINE[1]);
}

/** A Terraform engine found on PATH, and its version when it could tell. */
export interface EngineCandidate {
  readonly path: string;
  readonly version?: [number, number];
}

/**
 * The first of `candidates` recent enough to deploy the stack (see {@link engineRecentEnough}); each one
 * passed over before it is reported to `progress` with its version. Undefined when none will do.
 */
export function chooseEngine(
  candidates: Iterable<EngineCandidate>,
  progress: (line: string) => void,
): { path: string; version: [number, number] } | undefined {
  for (const { path, version } of candidates) {
    if (version && engineRecentEnough(version)) return { path, version };
    progress(`${path} is ${version ? version.join(".") : "of an unknown version"}; the stack needs ${MIN_ENGINE.join(".")} or later: not using it`);
  }
  return undefined;
}

/** What the sandbox runs with. */
export interface SandboxTools {
  /** The Terraform engine: `tofu` or `terraform` from PATH when recent enough, else OpenTofu built. */
  readonly engine: string;
  /** The Vault-API server: `bao` (else `vault`) from PATH, else OpenBao built. */
  readonly server: string;
  /** The providers' mirror (built from pinned sources), or undefined to let the engine ask the registry. */
  readonly cliConfig?: string;
  /** PostgreSQL's server binaries. */
  readonly pgBinDir: string;
  /** One line per tool: where it came from. */
  readonly origins: readonly string[];
}

/**
 * Finds the sandbox's programs, PATH first — `tofu` or `terraform` (1.11 or later), `bao` or `vault`,
 * PostgreSQL's `initdb`/`pg_ctl` (PATH, PG_BINDIR or Debian's /usr/lib/postgresql/<n>/bin) — and builds
 * with tools/build.sh only what is missing, and the two providers (cached after the first time).
 * Throws, saying what to install, when PostgreSQL cannot be found or a build fails.
 */
export async function findTools(progress: (line: string) => void): Promise<SandboxTools> {
  const origins: string[] = [];
  const pgOnPath = onPath("pg_ctl") && onPath("initdb") ? resolve(onPath("pg_ctl")!, "..") : undefined;
  const pgBinDir = pgOnPath ?? postgresBinDir();
  if (!pgBinDir || !existsSync(join(pgBinDir, "initdb"))) {
    throw new Error(
      "PostgreSQL's server programs (initdb, pg_ctl) were not found on PATH, in PG_BINDIR or in /usr/lib/postgresql/<version>/bin: " +
        "install them (Debian: apt-get install postgresql) or set PG_BINDIR",
    );
  }
  origins.push(`PostgreSQL ${postgresMajor(pgBinDir)}: ${pgBinDir}`);

  const toBuild: string[] = ["provider-vault", "provider-postgresql"];
  // lazily: `terraform version` only runs when no tofu on PATH will do.
  function* enginesOnPath(): Generator<EngineCandidate> {
    for (const name of ["tofu", "terraform"]) {
      const found = onPath(name);
      if (found) yield { path: found, version: engineVersion(found) };
    }
  }
  const chosen = chooseEngine(enginesOnPath(), progress);
  let engine = chosen?.path;
  if (chosen) origins.push(`engine: ${chosen.path} (${chosen.version.join(".")}, from PATH)`);
  if (!engine) toBuild.push("tofu");
  const server = onPath("bao") ?? onPath("vault");
  if (server) origins.push(`server: ${server} (from PATH)`);
  else toBuild.push("bao");

  progress(`building or finding in the tool cache: ${toBuild.join(", ")} (tools/build.sh; the first time takes minutes)`);
  const manifest = await buildTools(toBuild, progress);
  if (!engine) {
    engine = manifest.tofu!;
    origins.push(`engine: ${engine} (built)`);
  }
  const serverPath = server ?? manifest.bao!;
  if (!server) origins.push(`server: ${serverPath} (built)`);
  origins.push(`providers: ${manifest.pluginMirror} (built from pinned sources)`);
  return { engine, server: serverPath, cliConfig: manifest.cliConfig, pgBinDir, origins };
}
