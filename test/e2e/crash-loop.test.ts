/**
 * A crash loop, for real: n8n's agent — the synthesized `agent.hcl` run by `bao agent` as the synthesized unit
 * runs it, AppRole login, the credentials rendered — started and killed with SIGKILL over and over, as a
 * crash-looping pod's agent is: each start takes a new credential, and nobody revokes the last one. OpenBao and
 * PostgreSQL 15, leases of 30 s (at most 60 s), n8n's lease budget the default (4: one replica).
 *
 * 1. While it loops: its leases and users grow with every start; keybuzz-api's issuance goes on (its latency
 *    before and during the loop is recorded, not asserted: speed belongs to the bench); the lease audit reports
 *    n8n over its budget (`over_budget`, exit 2) and writes `keybuzz_leases_budget` and the finding to its
 *    Prometheus textfile, which `KeybuzzLeaseBudgetExceeded` reads (its firing is promtool's test).
 * 2. Once the loop stops: every lease it left ends with its TTL, every user it left is dropped, and the audit is
 *    healthy again (exit 0, no finding), with no lease left irrevocable.
 *
 * The figures, once the assertions pass, go to test-results/figures/crash-loop.json.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { quantile } from "../../bench/stats";
import { LocalDeployment } from "../../harness/deployment";
import { startProcess, waitFor } from "../../harness/processes";
import { leaseBudgetOf } from "../../stacks/keybuzz-names";
import { provisionHost } from "./fixture/agent-unit";
import { recordFigures } from "./fixture/figures";
import { auditTokens, runLeases } from "./fixture/leases";
import { e2eToolchain } from "./fixture/toolchain";

const toolchain = await e2eToolchain(import.meta.url);

const APP = "n8n";
const ROLE = "n8n-db";
const DEFAULT_TTL_S = 30;
const MAX_TTL_S = 60;
/** How long the loop runs, and how long each agent lives after its render before its SIGKILL. */
const LOOP_S = 45;
const LIFE_MS = 1000;
/** keybuzz-api's issuances timed before the loop, and during it one every this often. */
const BASELINE_ISSUES = 20;
const ISSUE_EVERY_MS = 500;

describe.skipIf(!toolchain)("a crash-looping agent: leases pile up, the audit reports the budget, and they all end", () => {
  let env: LocalDeployment | undefined;
  const work = mkdtempSync(join(tmpdir(), "keybuzz-crash-loop-"));
  afterAll(async () => {
    await env?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it("OpenBao: n8n's agent killed with SIGKILL after each start, for 45 s", { timeout: 300_000 }, async () => {
    chmodSync(work, 0o711);
    const etc = join(work, "etc");
    const runDir = join(work, "run");
    const e = await LocalDeployment.start({
      server: toolchain!.postgres[0],
      vaultBinary: toolchain!.bao,
      tools: { engine: toolchain!.tofu, cliConfig: toolchain!.cliConfig },
      log: "[e2e crash-loop]",
      patchConfig: (config) => {
        config.agent = { configDirectory: etc, runDirectory: runDir, binary: toolchain!.bao };
        for (const a of config.applications) {
          a.defaultTtl = `${DEFAULT_TTL_S}s`;
          a.maxTtl = `${MAX_TTL_S}s`;
        }
      },
    });
    env = e;
    await e.deploy();
    const budget = leaseBudgetOf({ replicas: 1 });
    const tokens = await auditTokens(e);
    const textfile = join(work, "keybuzz_leases.prom");
    const audit = () => runLeases(e, ["--output", textfile, "--format", "prometheus"], tokens.audit);
    const auditJson = () => runLeases(e, [], tokens.audit);

    // provisioning, as for any host: the role ID, a secret ID, agent.hcl; the unit's run folder.
    const unit = await provisionHost(e, APP, { etc, runDir });
    const rendered = join(runDir, APP, "n8n.env");
    // Vault names a user v-<display>-<first 8 of the role>-…: n8n's, whoever issued them.
    const n8nUsers = async () => (await e.dynamicRoles()).filter((r) => r.includes(`-${ROLE.slice(0, 8)}-`));

    // keybuzz-api's issuance on a quiet server, then all along the loop.
    const timedIssue = async () => {
      const t = performance.now();
      const c = await e.issue("keybuzz-api-db");
      const ms = performance.now() - t;
      await e.revoke(c.leaseId);
      return ms;
    };
    const before: number[] = [];
    for (let i = 0; i < BASELINE_ISSUES; i++) before.push(await timedIssue());
    expect(await auditJson()).toMatchObject({ code: 0 });

    // 1. the loop: start, wait for the render (a credential taken), SIGKILL; as a restart policy would, at once again.
    const during: number[] = [];
    let looping = true;
    const issuing = (async () => {
      while (looping) {
        during.push(await timedIssue());
        await sleep(ISSUE_EVERY_MS);
      }
    })();
    const loopStart = Date.now();
    let starts = 0;
    let peakLeases = 0;
    let peakUsers = 0;
    let overBudgetAfterS: number | undefined;
    while (Date.now() - loopStart < LOOP_S * 1000) {
      rmSync(rendered, { force: true });
      const agent = startProcess(unit.start[0], unit.start.slice(1), { env: { PATH: process.env.PATH, HOME: unit.home } });
      await waitFor("the agent's render", async () => existsSync(rendered), 30_000).catch((err) => {
        agent.signal("SIGKILL");
        throw new Error(`${(err as Error).message}\n${agent.output()}`);
      });
      starts++;
      await sleep(LIFE_MS);
      agent.signal("SIGKILL");
      await agent.exited;
      const leases = (await e.outstandingLeases(ROLE)).length;
      const users = (await n8nUsers()).length;
      peakLeases = Math.max(peakLeases, leases);
      peakUsers = Math.max(peakUsers, users);
      if (overBudgetAfterS === undefined && leases > budget) overBudgetAfterS = (Date.now() - loopStart) / 1000;
    }
    const loopSeconds = (Date.now() - loopStart) / 1000;
    const leasesAtStop = (await e.outstandingLeases(ROLE)).length;
    // the audit, as its timer runs it: n8n over its budget, in the report and in the textfile.
    const found = await auditJson();
    looping = false;
    await issuing;
    expect(found.code, found.stderr).toBe(2);
    const overBudget = (found.json.findings as { kind: string; application?: string; detail: string }[]).filter((f) => f.kind === "over_budget");
    expect(overBudget.map((f) => f.application)).toEqual([APP]);
    expect(overBudget[0].detail).toMatch(new RegExp(`^\\d+ active leases, over its budget of ${budget} `));
    expect((await audit()).code).toBe(2);
    const metrics = readFileSync(textfile, "utf8");
    expect(metrics).toContain(`keybuzz_leases_budget{environment="local",application="${APP}",vault_role="${ROLE}"} ${budget}`);
    expect(metrics).toContain(`keybuzz_leases_findings{environment="local",application="${APP}",kind="over_budget"} 1`);
    expect(starts).toBeGreaterThan(budget);
    expect(leasesAtStop).toBeGreaterThan(budget);

    // 2. the loop stopped: every lease ends with its TTL and its user is dropped; the audit is healthy again.
    const stoppedAt = Date.now();
    await waitFor(
      "every lease the loop left to end and its user to be dropped",
      async () => (await e.outstandingLeases(ROLE)).length === 0 && (await n8nUsers()).length === 0,
      (MAX_TTL_S + 60) * 1000,
    );
    const drainedAfterS = (Date.now() - stoppedAt) / 1000;
    const healthy = await auditJson();
    expect(healthy.code, healthy.stderr).toBe(0);
    expect(healthy.json.findings).toEqual([]);
    expect(await e.irrevocableLeases()).toBe(0);
    expect(await e.dynamicRoles()).toEqual([]);

    const ms = (xs: number[], q: number) => Math.round(quantile(xs, q) * 10) / 10;
    const figures = {
      server: e.vault.label,
      postgres: e.pg.serverVersion.split(" ").slice(0, 2).join(" "),
      budget,
      loopSeconds: Math.round(loopSeconds),
      starts,
      // one credential per start: the rate leases were taken at (what is held levels off at this rate × the TTL).
      leasesPerMinute: Math.round((starts / loopSeconds) * 60),
      leasesAtStop,
      peakLeases,
      peakUsers,
      overBudgetAfterSeconds: Math.round((overBudgetAfterS ?? loopSeconds) * 10) / 10,
      drainedAfterSeconds: Math.round(drainedAfterS),
      defaultTtlSeconds: DEFAULT_TTL_S,
      otherIssuesBefore: before.length,
      otherIssuesDuring: during.length,
      otherIssueP50MsBefore: ms(before, 0.5),
      otherIssueP99MsBefore: ms(before, 0.99),
      otherIssueP50MsDuring: ms(during, 0.5),
      otherIssueP99MsDuring: ms(during, 0.99),
      irrevocable: 0,
      usersLeft: 0,
    };
    process.stderr.write(`[e2e crash-loop] ${JSON.stringify(figures)}\n`);
    recordFigures("crash-loop", figures);
  });
});
