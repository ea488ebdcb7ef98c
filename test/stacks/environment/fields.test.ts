import { describe, expect, it } from "vitest";
import { parseDuration, parseEnvironment } from "../../../stacks/environment";
import { RULES } from "./cases/fields";
import { changed, DEV, problem, problemsOf } from "./fixture";

describe("parseEnvironment", () => {
  it.each(RULES)("rejects $rule, naming the file, the field and the value", ({ change, field, says, got }) => {
    // WHEN
    const problems = problemsOf("dev", "config/dev.json", changed(DEV, change));

    // THEN
    expect(problems).toContainEqual(problem("config/dev.json", field, says, got));
  });

  it("reads durations as seconds", () => {
    const text = changed(DEV, (c) => Object.assign(c.applications[0], { defaultTtl: "1h30m", maxTtl: 7200 }));

    expect(parseEnvironment("dev", "config/dev.json", text).applications[0]).toMatchObject({ defaultTtl: 5400, maxTtl: 7200 });
  });
});

describe("parseDuration", () => {
  it.each([
    [90, 90],
    ["90s", 90],
    ["15m", 900],
    ["1h", 3600],
    ["1h30m", 5400],
    ["1h0m1s", 3601],
    ["24h", 86400],
  ] as const)("reads %j as %d seconds", (value, seconds) => {
    expect(parseDuration(value)).toBe(seconds);
  });

  it.each(["", "1d", "1 h", "h", "30m1h", "1.5h", 1.5])("reads %j as NaN", (value) => {
    expect(parseDuration(value)).toBeNaN();
  });
});
