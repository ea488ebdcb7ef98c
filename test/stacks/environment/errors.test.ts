import { describe, expect, it } from "vitest";
import { RULES } from "./cases/errors";
import { api, changed, DEV, IDENTIFIER, problem, problemsOf } from "./fixture";

describe("parseEnvironment", () => {
  it.each(RULES)("rejects $rule, naming the file, the field and the value", ({ change, field, says, got }) => {
    // WHEN
    const problems = problemsOf("dev", "config/dev.json", changed(DEV, change));

    // THEN
    expect(problems).toContainEqual(problem("config/dev.json", field, says, got));
  });

  it("reports every problem of a file at once", () => {
    const text = changed(DEV, (c) => {
      c.applications[0].baseRole = "Bad";
      delete c.postgres.port;
      c.typo = 1;
    });

    expect(problemsOf("dev", "config/dev.json", text)).toEqual(
      expect.arrayContaining([
        problem("config/dev.json", `${api}.baseRole`, IDENTIFIER, '"Bad"'),
        problem("config/dev.json", "postgres.port", "is required", "missing"),
        problem("config/dev.json", "typo", "unknown field", "1"),
      ]),
    );
  });
});
