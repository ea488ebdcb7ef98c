/**
 * Reads a real plan (`tofu|terraform plan -out p && tofu|terraform show -json p`) into the same model as
 * a synth comparison. A plan knows what a JSON diff can only guess: which changes replace a resource
 * (`replace_paths`), what moved, and which values are sensitive (`*_sensitive`), which are redacted.
 *
 * @see https://developer.hashicorp.com/terraform/internals/json-format#plan-representation
 */
import { readFileSync } from "node:fs";
import { APPLICATIONS_OUTPUT } from "../stacks/keybuzz-names";
import { attributeChanges, labelOf, leaseBudgets } from "./compare";
import { REDACTED } from "./redact";
import type { AttributeChange, ResourceChange, StackDiff } from "./model";

interface PlanResourceChange {
  address: string;
  previous_address?: string;
  mode: string;
  type: string;
  change: {
    actions: string[];
    before: Record<string, unknown> | null;
    after: Record<string, unknown> | null;
    after_unknown?: Record<string, unknown>;
    before_sensitive?: unknown;
    after_sensitive?: unknown;
    replace_paths?: (string | number)[][];
  };
  action_reason?: string;
}

interface PlanJson {
  format_version?: string;
  variables?: Record<string, { value?: unknown }>;
  configuration?: { root_module?: { variables?: Record<string, { sensitive?: boolean }> } };
  resource_changes?: PlanResourceChange[];
  output_changes?: Record<string, { actions: string[]; before?: unknown; after?: unknown; before_sensitive?: unknown; after_sensitive?: unknown }>;
}

/** Replaces every value the plan marks sensitive (`true` in the *_sensitive mirror) with REDACTED. */
function maskSensitive(value: unknown, mask: unknown): unknown {
  if (mask === true) return value === null || value === undefined ? value : REDACTED;
  if (Array.isArray(value)) return value.map((v, i) => maskSensitive(v, Array.isArray(mask) ? mask[i] : undefined));
  if (value !== null && typeof value === "object") {
    const m = (mask ?? {}) as Record<string, unknown>;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSensitive(v, m[k])]));
  }
  return value;
}

/** Every string the plan marks sensitive anywhere, and the values of sensitive variables. */
function collectSecrets(plan: PlanJson): Set<string> {
  const secrets = new Set<string>();
  const walk = (value: unknown, mask: unknown) => {
    if (mask === true) {
      JSON.stringify(value ?? null).replace(/"((?:[^"\\]|\\.)*)"/g, (m, s: string) => {
        if (s.length >= 4) secrets.add(JSON.parse(m) as string);
        return m;
      });
      return;
    }
    if (mask && typeof mask === "object" && value && typeof value === "object") {
      for (const [k, m] of Object.entries(mask)) walk((value as Record<string, unknown>)[k], m);
    }
  };
  for (const rc of plan.resource_changes ?? []) {
    walk(rc.change.before, rc.change.before_sensitive);
    walk(rc.change.after, rc.change.after_sensitive);
  }
  for (const [name, v] of Object.entries(plan.variables ?? {})) {
    if (plan.configuration?.root_module?.variables?.[name]?.sensitive && typeof v.value === "string" && v.value.length >= 4) {
      secrets.add(v.value);
    }
  }
  return secrets;
}

/** Replaces each known secret wherever it appears, even where the plan failed to mark it. */
function scrub(value: unknown, secrets: ReadonlySet<string>): unknown {
  if (typeof value === "string") {
    let out = value;
    for (const s of secrets) out = out.split(s).join(REDACTED);
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => scrub(v, secrets));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrub(v, secrets)]));
  }
  return value;
}

/** Values known only after apply show as `(known after apply)`. */
function markUnknown(value: Record<string, unknown>, unknown: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { ...value };
  for (const [k, u] of Object.entries(unknown ?? {})) if (u === true) out[k] = "(known after apply)";
  return out;
}

function withoutNulls(body: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== null && !(Array.isArray(v) && v.length === 0)));
}

function kindOf(actions: readonly string[]): ResourceChange["kind"] | undefined {
  const a = [...actions].sort().join(",");
  if (a === "create,delete") return "replaced";
  if (a === "create") return "added";
  if (a === "delete") return "removed";
  if (a === "update") return "changed";
  return undefined;
}

function addressParts(address: string): { type: string; id: string } {
  const parts = address.split(".");
  return { type: parts[parts.length - 2], id: parts[parts.length - 1] };
}

/** A stack's changes as a plan states them. */
export function stackDiffFromPlan(stack: string, plan: PlanJson): StackDiff {
  const secrets = collectSecrets(plan);
  const resources: ResourceChange[] = [];
  for (const rc of plan.resource_changes ?? []) {
    if (rc.mode !== "managed") continue;
    const moved = rc.previous_address && rc.previous_address !== rc.address ? rc.previous_address : undefined;
    const kind = kindOf(rc.change.actions) ?? (moved ? "changed" : undefined);
    if (!kind) continue;
    // diff the real values (two different secrets still differ), then hide what is secret.
    const before = rc.change.before ? withoutNulls(rc.change.before) : undefined;
    const after = rc.change.after ? withoutNulls(markUnknown(rc.change.after, rc.change.after_unknown)) : undefined;
    let raw: AttributeChange[];
    const every = (values: Record<string, unknown> = {}) =>
      Object.keys(values)
        .sort()
        .map((path) => ({ path, value: values[path] }));
    if (kind === "added") raw = every(after).map(({ path, value }) => ({ path, after: value }));
    else if (kind === "removed") raw = every(before).map(({ path, value }) => ({ path, before: value }));
    else raw = attributeChanges(before ?? {}, after ?? {});
    const maskAt = (mask: unknown, path: string) =>
      path.split(".").reduce<unknown>((m, k) => (m === true ? true : (m as Record<string, unknown> | undefined)?.[k]), mask);
    const hide = (value: unknown, mask: unknown) => scrub(maskSensitive(value, mask), secrets);
    const attributes = raw.map((a) => ({
      path: a.path,
      ...("before" in a ? { before: hide(a.before, maskAt(rc.change.before_sensitive, a.path)) } : {}),
      ...("after" in a ? { after: hide(a.after, maskAt(rc.change.after_sensitive, a.path)) } : {}),
    }));
    const replacePaths = (rc.change.replace_paths ?? []).map((p) => p.filter((s) => typeof s === "string").join("."));
    resources.push({
      address: rc.address,
      type: rc.type ?? addressParts(rc.address).type,
      label: scrub(labelOf(rc.type, (after ?? before ?? {}) as Record<string, unknown>), secrets) as string,
      kind,
      attributes,
      ...(moved ? { movedFrom: moved } : {}),
      ...(kind === "replaced"
        ? {
            replaceReason: replacePaths.length
              ? `changing ${replacePaths.join(", ")} forces a new ${rc.type}`
              : (rc.action_reason ?? "the plan replaces it"),
          }
        : {}),
    });
  }
  const settings: AttributeChange[] = [];
  for (const [name, oc] of Object.entries(plan.output_changes ?? {})) {
    if (oc.actions.join() === "no-op") continue;
    settings.push({
      path: `output.${name}`,
      before: scrub(maskSensitive(oc.before, oc.before_sensitive), secrets),
      after: scrub(maskSensitive(oc.after, oc.after_sensitive), secrets),
    });
  }
  resources.sort((a, b) => a.address.localeCompare(b.address));
  const apps = plan.output_changes?.[APPLICATIONS_OUTPUT.name];
  return { stack, settings, leaseBudgets: leaseBudgets(apps?.before, apps?.after), resources, source: "plan" };
}

/** Reads `show -json` output from a file. */
export function readPlan(stack: string, file: string): StackDiff {
  let plan: PlanJson;
  try {
    plan = JSON.parse(readFileSync(file, "utf8")) as PlanJson;
  } catch (err) {
    throw new Error(
      `--plan ${stack}=${file}: not a readable plan in JSON (${(err as Error).message}); produce one with \`tofu show -json <planfile>\``,
    );
  }
  if (!plan.format_version || !Array.isArray(plan.resource_changes ?? [])) {
    throw new Error(`--plan ${stack}=${file}: not a plan in JSON (no format_version); produce one with \`tofu show -json <planfile>\``);
  }
  return stackDiffFromPlan(stack, plan);
}
