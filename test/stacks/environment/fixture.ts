/**
 * What the tests of stacks/environment/ and main.ts share: the committed files to break, the messages'
 * shared wording, and the helpers that break a file and match the problem reported. The tables of rules,
 * one per source file, are in cases/.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { ConfigError, parseEnvironment } from "../../../stacks/environment";
import { ROOT, type TfJson } from "../../helpers";

export const CONFIG_DIR = join(ROOT, "config");
/** The committed dev.json, which every table but the production one breaks. */
export const DEV = readFileSync(join(CONFIG_DIR, "dev.json"), "utf8");
/** The committed prod.json, which the production table breaks. */
export const PROD = readFileSync(join(CONFIG_DIR, "prod.json"), "utf8");

export const IDENTIFIER = "must be a lower-case PostgreSQL identifier";
export const VAULT_NAME = "must be a Vault path segment";
export const DURATION = "must be a positive duration";

/** The problems ConfigError reports for that text, or none when it is valid. */
export function problemsOf(name: string, file: string, text: string): readonly string[] {
  try {
    parseEnvironment(name, file, text);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

/** The config text after changing its JSON. */
export function changed(text: string, change: (config: TfJson) => void): string {
  const data = JSON.parse(text) as TfJson;
  change(data);
  return JSON.stringify(data, null, 2);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Matches a problem line that names the file and the field, says `says`, and ends with the value got. */
export function problem(file: string, field: string, says: string, got: string) {
  return expect.stringMatching(new RegExp(`^${escapeRegExp(`${file}: ${field}: `)}.*${escapeRegExp(says)}.*${escapeRegExp(`(got ${got})`)}$`));
}

/** One way to break a file, and the problem it must be reported as. */
export interface Rule {
  /** What is wrong, for the test name. */
  readonly rule: string;
  readonly change: (config: TfJson) => void;
  /** The field path as the message prints it. */
  readonly field: string;
  /** Part of the message saying what is accepted or why not. */
  readonly says: string;
  /** The value as the message prints it. */
  readonly got: string;
}

/** dev.json's first application, as the messages print its path. */
export const api = "applications[0](keybuzz-api)";
/** dev.json's first AppRole binding, as the messages print its path. */
export const approle = "auth.approle.bindings[0](workers)";
/** The first Kubernetes binding that {@link k8sBinding} gives, as the messages print its path. */
export const kubernetes = "auth.kubernetes.bindings[0](keybuzz-api)";

/** The first Kubernetes binding, after adding the method (keybuzz-api's pods in keybuzz) if the file has none. */
export function k8sBinding(c: TfJson): TfJson {
  c.auth ??= {};
  c.auth.kubernetes ??= {
    host: "https://10.0.0.50:6443",
    bindings: [{ application: "keybuzz-api", serviceAccounts: ["keybuzz-api"], namespaces: ["keybuzz"] }],
  };
  return c.auth.kubernetes.bindings[0];
}

/** The auth methods whose bindings every table breaks alike. */
export const AUTH_METHODS = ["approle", "kubernetes"] as const;

/** The first binding of `method` ({@link k8sBinding} for Kubernetes), its path as the messages print it, and its application. */
export function firstBinding(method: (typeof AUTH_METHODS)[number]): { binding: (c: TfJson) => TfJson; at: string; app: string } {
  return method === "approle"
    ? { binding: (c) => c.auth.approle.bindings[0], at: approle, app: "workers" }
    : { binding: k8sBinding, at: kubernetes, app: "keybuzz-api" };
}
