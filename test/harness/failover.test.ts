import { describe, expect, it } from "vitest";
import { CredentialChurn, CHURN_PACE_MS, type Op } from "../../harness/failover";

/** A churn that never runs: only its record of calls, for recoveryAfter. */
function churnWith(ops: Op[]): CredentialChurn {
  const churn = new CredentialChurn(undefined as never, []);
  churn.ops.push(...ops);
  return churn;
}

const issue = (start: number, end: number, ok = true): Op => ({ kind: "issue", start, end, ok, ...(ok ? {} : { error: "503 sealed" }) });

describe("CredentialChurn.recoveryAfter", () => {
  it("measures an outage from the event to the first success after the last failure", () => {
    const r = churnWith([issue(900, 1000), issue(1000, 1200, false), issue(1300, 3000, false), issue(3100, 3400), issue(3500, 3600)]).recoveryAfter(
      "kill",
      1000,
      3000,
      4000,
    );
    expect(r.issuanceBackMs).toBe(2400);
    expect(r.longestGapMs).toBe(2400);
    expect(r.failed.issue).toBe(2);
    expect(r.made.issue).toBe(5); // the call that ended at the event is in the window
    expect(r.errors).toEqual(["2× issue: 503 sealed"]);
  });

  it("counts a wait with no failure as an outage when the gap reaches the churn's pace", () => {
    const r = churnWith([issue(900, 1100), issue(1150, 1300), issue(1350, 1350 + CHURN_PACE_MS + 500), issue(2900, 3000)]).recoveryAfter(
      "step-down",
      1000,
      2000,
      4000,
    );
    expect(r.longestGapMs).toBe(CHURN_PACE_MS + 550);
    expect(r.issuanceBackMs).toBe(1850);
  });

  it("says issuance never stopped when nothing failed and every gap is the churn's pace", () => {
    // the largest small gap comes late: it must not be read as a recovery time.
    const ops = [issue(900, 1100), issue(1100, 1200), issue(1200, 1300), issue(1300, 1400), issue(4000, 4500)];
    const r = churnWith(ops).recoveryAfter("kill of a standby", 1000, 2000, 5000);
    expect(r.longestGapMs).toBe(3100);
    const calm = churnWith(ops.slice(0, 4)).recoveryAfter("kill of a standby", 1000, 2000, 5000);
    expect(calm.longestGapMs).toBe(100);
    expect(calm.issuanceBackMs).toBe(200);
  });
});
