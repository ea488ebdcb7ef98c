/**
 * Alerts on PostgreSQL's failed logins and on the lease audit, end to end, on PostgreSQL 15 and 17 side by side
 * (fixture/monitoring-run.ts: one deployment and one pipeline per major): a quiet period that notifies nobody,
 * then each condition made for real and its notification within 60 s.
 */
import { afterAll, beforeAll, describe, it } from "vitest";
import { MonitoringRun, onEveryRun } from "./fixture/monitoring-run";
import { e2eToolchain } from "./fixture/toolchain";

const toolchain = await e2eToolchain(import.meta.url);
const servers = (toolchain?.postgres ?? []).filter((s): s is typeof s & { major: 15 | 17 } => s.major === 15 || s.major === 17);

describe.skipIf(!toolchain || servers.length === 0)(
  `PostgreSQL ${servers.map((s) => s.major).join(" and ")}'s failed logins and the lease audit, through mtail, Prometheus and Alertmanager`,
  () => {
    const runs: MonitoringRun[] = [];

    beforeAll(async () => {
      const started = await Promise.allSettled(servers.map((s) => MonitoringRun.start(s, toolchain!)));
      for (const r of started) if (r.status === "fulfilled") runs.push(r.value);
      const failed = started.find((r) => r.status === "rejected");
      if (failed) throw failed.reason;
    }, 600_000);

    afterAll(async () => {
      await Promise.all(runs.map((r) => r.stop()));
    });

    it("a quiet period (rotation, renewals, the audit, a PostgreSQL restart) notifies nobody", { timeout: 300_000 }, async () => {
      await onEveryRun(runs, (r) => r.quietPeriod());
    });

    it("each condition notifies, naming the application, within 60 s of its first failure", { timeout: 400_000 }, async () => {
      await onEveryRun(runs, (r) => r.conditions());
    });
  },
);
