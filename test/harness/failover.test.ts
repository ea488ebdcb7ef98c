import { describe, expect, it } from "vitest";
import { CHURN_PACE_MS, CredentialChurn, formatRecovery, type Op, type Recovery, shortError } from "../../harness/failover";

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

describe("shortError", () => {
  it("keeps the status and Vault's own errors of a failed call", () => {
    const err = new Error('database/creds/api: 500 {"errors":["1 error occurred:\\n\\t* failed to connect to 127.0.0.1:40123\\n\\n"]}');
    expect(shortError(err)).toBe("500 * failed to connect to 127.0.0.1:<port>");
  });

  it("drops the dynamic role names and ports, so equal errors count together", () => {
    expect(shortError(new Error('password authentication failed for user "v-token-api-xYz12"'))).toBe(
      'password authentication failed for user "v-…"',
    );
    expect(shortError("connect ECONNREFUSED 127.0.0.1:5432")).toBe("connect ECONNREFUSED 127.0.0.1:<port>");
  });

  it("keeps a body that is not JSON as it is, on one line, at most 240 characters", () => {
    expect(shortError(new Error("sys/leases/revoke: 502 {not json}"))).toBe("sys/leases/revoke: 502 {not json}");
    expect(shortError(new Error("first line\n\tsecond line"))).toBe("first line second line");
    expect(shortError(new Error("x".repeat(500)))).toHaveLength(240);
  });
});

describe("formatRecovery", () => {
  const none = { issue: 0, login: 0, renew: 0, revoke: 0 };
  const recovery: Recovery = {
    event: "switchover node1 → node2",
    issuanceBackMs: 2450,
    longestGapMs: 2000,
    failed: { ...none, issue: 2, revoke: 1 },
    made: { ...none, issue: 10, login: 8, revoke: 7 },
    errors: ["2× issue: 503 sealed"],
    healthyAfterMs: 6000,
  };

  it("says when issuance and the cluster were back, and which calls failed out of how many", () => {
    expect(formatRecovery(recovery)).toBe(
      "switchover node1 → node2: issuance back after 2.5 s (longest gap 2.0 s), cluster healthy after 6.0 s; failed calls: issue 2/10, revoke 1/7; 2× issue: 503 sealed",
    );
  });

  it("says none failed when none did", () => {
    expect(formatRecovery({ ...recovery, failed: none, errors: [] })).toMatch(/; failed calls: none$/);
  });
});
