/**
 * Section 3, `cdktf deploy` of `local` (OpenBao, the machine's PostgreSQL): cold (fresh folder, init installs
 * the providers), again after `cdktf destroy` (initialized), and with nothing to change; wall time split into
 * the app's synth, the engine (every `tofu` process cdktf ran, timed by a wrapper) and cdktf's own.
 */
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { LocalDeployment } from "../harness/deployment";
import { APP } from "../harness/stack";
import type { Toolchain } from "../harness/toolchain";
import { type NotRun, progress } from "./measure";
import { unionSeconds } from "./stats";

/** One `cdktf deploy`: wall time, and the time inside the app's synth and inside the engine. */
export interface DeployRun {
  readonly wallS: number;
  readonly synthS: number;
  readonly engineS: number;
  /** Resources added (or destroyed), as cdktf reported them. */
  readonly resources: number;
}

/** The three deploys of each repeat, in this order. */
export const DEPLOY_KINDS = ["cold", "after destroy", "no changes"] as const;
/** A kind of deploy: cold, after a destroy, or with nothing to change. */
export type DeployKind = (typeof DEPLOY_KINDS)[number];

/** What section 3 measured. */
export interface DeploysResult {
  /** The server and PostgreSQL deployed to, e.g. `OpenBao 2.6.2, PostgreSQL 15.20`. */
  readonly label: string;
  readonly repeats: number;
  /** Each kind of deploy and its runs, in {@link DEPLOY_KINDS}' order. */
  readonly kinds: readonly { readonly kind: DeployKind; readonly runs: readonly DeployRun[] }[];
}

/** A shell wrapper that runs `command` and appends "<start ns> <end ns>" to `log`. */
function timingWrapper(path: string, command: string[], log: string): string {
  const quoted = command.map((c) => `'${c.replace(/'/g, "'\\''")}'`).join(" ");
  writeFileSync(path, `#!/bin/sh\nstart=$(date +%s%N)\n${quoted} "$@"\nrc=$?\necho "$start $(date +%s%N)" >> '${log}'\nexit $rc\n`);
  chmodSync(path, 0o755);
  return path;
}

function readIntervals(log: string): [bigint, bigint][] {
  if (!existsSync(log)) return [];
  const lines = readFileSync(log, "utf8").trim().split("\n").filter(Boolean);
  rmSync(log);
  return lines.map((l) => l.split(" ").map((n) => BigInt(n)) as [bigint, bigint]);
}

/** Measures section 3, `repeats` times on fresh servers and folders; {@link NotRun} without the toolchain. */
export async function measureDeploys(
  toolchain: Toolchain | undefined,
  missing: string | undefined,
  repeats: number,
): Promise<DeploysResult | NotRun> {
  if (!toolchain) return { missing: `${missing}` };
  const runs: Record<DeployKind, DeployRun[]> = { cold: [], "after destroy": [], "no changes": [] };
  let label = "";
  for (let rep = 1; rep <= repeats; rep++) {
    const env = await LocalDeployment.start({
      server: toolchain.postgres[0],
      vaultBinary: toolchain.bao,
      tools: { engine: toolchain.tofu, cliConfig: toolchain.cliConfig },
      log: "[bench] deploy:",
    });
    try {
      label = `${env.vault.label}, PostgreSQL ${env.pg.serverVersion.split(" ")[1]}`;
      const engineLog = join(env.dir, "engine-times");
      const synthLog = join(env.dir, "synth-times");
      const engine = timingWrapper(join(env.dir, "tofu-timed"), [toolchain.tofu], engineLog);
      const app = timingWrapper(join(env.dir, "app-timed"), [process.execPath, APP], synthLog);
      const credentials = { ...env.credentials, engine };
      const one = async (command: "deploy" | "destroy"): Promise<DeployRun> => {
        const t0 = performance.now();
        const res = await env.cdktf(command, { credentials, args: ["--app", app] });
        const wallS = (performance.now() - t0) / 1000;
        if (res.code !== 0) throw new Error(`cdktf ${command} exited ${res.code}:\n${res.output}`);
        const resources = Number(/Resources: (\d+) (?:added|destroyed)/.exec(res.output)?.[1] ?? 0);
        return { wallS, synthS: unionSeconds(readIntervals(synthLog)), engineS: unionSeconds(readIntervals(engineLog)), resources };
      };
      for (const kind of DEPLOY_KINDS) {
        if (kind === "after destroy") await one("destroy");
        const r = await one("deploy");
        runs[kind].push(r);
        progress(
          `deploy ${rep}/${repeats}, ${kind}: ${r.wallS.toFixed(1)} s (synth ${r.synthS.toFixed(1)} s, engine ${r.engineS.toFixed(1)} s), ${r.resources} resources`,
        );
      }
    } finally {
      await env.stop();
    }
  }
  return { label, repeats, kinds: DEPLOY_KINDS.map((kind) => ({ kind, runs: runs[kind] })) };
}
