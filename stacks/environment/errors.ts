/**
 * How problems in environment files are reported: one line each, `file: field: message (got value)`, with
 * an application's name beside its index, so that a person finds the field without counting.
 */
import type { z } from "zod";
import type { Problem } from "./rules";

/** Thrown when one or more environment files are invalid; `message` lists every problem, one per line. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
  }
}

export function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = data;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** `applications[1](chatwoot).maxTtl`: indexes in brackets, and an application's name beside its index. */
function formatPath(data: unknown, path: readonly PropertyKey[]): string {
  let out = "";
  path.forEach((p, i) => {
    if (typeof p === "number") {
      out += `[${p}]`;
      // name the element: an application by its name, a binding by its application.
      const element = valueAt(data, path.slice(0, i + 1)) as { name?: unknown; application?: unknown } | undefined;
      const label = i === 1 && path[0] === "applications" ? element?.name : path[i - 1] === "bindings" ? element?.application : undefined;
      if (typeof label === "string") out += `(${label})`;
    } else {
      out += out ? `.${String(p)}` : String(p);
    }
  });
  return out || "(root)";
}

function describeValue(value: unknown): string {
  if (value === undefined) return "missing";
  const json = JSON.stringify(value);
  return json.length > 80 ? `${json.slice(0, 77)}...` : json;
}

/** Formats zod issues as `file: field: message (got value)` lines. */
export function formatIssues(file: string, data: unknown, issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.flatMap((issue) => {
    if (issue.code === "unrecognized_keys") {
      // one line per key, with its value, like every other problem.
      return issue.keys.map((k) => {
        const path = [...issue.path, k];
        return `${file}: ${formatPath(data, path)}: unknown field (check the spelling; see config/schema.json) (got ${describeValue(valueAt(data, path))})`;
      });
    }
    if (issue.code === "invalid_key") {
      // a record key (a schema name) is the bad value: say why, from the key's own issues.
      const key = issue.path[issue.path.length - 1];
      const why = issue.issues.map((i) => i.message).join("; ");
      return [`${file}: ${formatPath(data, issue.path)}: invalid name: ${why} (got ${describeValue(key)})`];
    }
    const value = valueAt(data, issue.path);
    const message = issue.code === "invalid_type" && value === undefined ? "is required" : issue.message;
    return [`${file}: ${formatPath(data, issue.path)}: ${message} (got ${describeValue(value)})`];
  });
}

/** Formats rule problems of `data` (the file's content, or the environment read from it) like zod issues. */
export function formatProblems(file: string, data: unknown, problems: readonly Problem[]): string[] {
  return problems.map((p) => `${file}: ${formatPath(data, p.path)}: ${p.message} (got ${p.got ?? describeValue(valueAt(data, p.path))})`);
}
