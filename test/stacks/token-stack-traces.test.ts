import { afterEach, describe, expect, it } from "vitest";
import { Lazy, Tokenization } from "cdktf";
import { skipTokenStackTraces } from "../../stacks/token-stack-traces";

describe("skipTokenStackTraces", () => {
  let restore: (() => void) | undefined;
  afterEach(() => {
    restore?.();
    restore = undefined;
  });

  /** The stack cdktf records when a token is created (a Lazy, here). */
  function tokenCreationStack(): string[] {
    const lazy = Lazy.stringValue({ produce: () => "x" });
    return (Tokenization.reverseString(lazy).firstToken as unknown as { creationStack: string[] }).creationStack;
  }

  it("leaves cdktf's token creation stacks empty", () => {
    // GIVEN cdktf records a stack by default
    expect(tokenCreationStack().length).toBeGreaterThan(0);

    // WHEN
    restore = skipTokenStackTraces();

    // THEN the same call on a plain object records nothing
    const skipped = { stack: "" };
    Error.captureStackTrace(skipped);
    expect(skipped.stack).toBe("");
    expect(tokenCreationStack()).toEqual([]);
  });

  it("keeps the stack trace of every real Error", () => {
    restore = skipTokenStackTraces();
    const err = new Error("boom");
    Error.captureStackTrace(err);

    expect(err.stack).toContain("boom");
    expect(err.stack).toContain("token-stack-traces.test.ts");
  });

  it("puts the original back", () => {
    const original = Error.captureStackTrace;
    skipTokenStackTraces()();

    expect(Error.captureStackTrace).toBe(original);
  });
});
