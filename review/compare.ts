/**
 * Compares two synthesized `cdktf.out` folders stack by stack.
 *
 * Resources are matched by Terraform address (`type.logical_id`). A resource that disappears under one
 * address and appears, otherwise identical, under another is a construct-ID rename: Terraform would
 * destroy and recreate it unless told it moved. Attributes that force a new resource are guessed from a
 * table of the providers this project uses; a real plan (`plan.ts`) knows for sure.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import diff from "microdiff";
import { APPLICATIONS_OUTPUT } from "../stacks/keybuzz-names";
import type { AttributeChange, LeaseBudget, ResourceChange, StackDiff } from "./model";

/** A stack's synthesized JSON, as read from `cdktf.out/stacks/<name>/cdk.tf.json`. */
export interface StackJson {
  readonly "//"?: unknown;
  readonly terraform?: Record<string, unknown>;
  readonly provider?: Record<string, unknown>;
  readonly variable?: Record<string, unknown>;
  readonly output?: Record<string, unknown>;
  readonly resource?: Record<string, Record<string, Record<string, unknown>>>;
  readonly moved?: readonly { from: string; to: string }[];
  /** Not in cdk.tf.json: the agents' files beside it (`agent/<application>/<file>`), by `<application>/<file>`. */
  readonly agentFiles?: Record<string, string>;
}

/** Reads every stack in a synth output folder (`cdktf.out`, or a folder holding `stacks/`). */
export function loadStacks(outDir: string): Map<string, StackJson> {
  const stacksDir = join(outDir, "stacks");
  const stacks = new Map<string, StackJson>();
  if (!existsSync(stacksDir)) return stacks;
  for (const name of readdirSync(stacksDir).sort()) {
    const file = join(stacksDir, name, "cdk.tf.json");
    if (existsSync(file))
      stacks.set(name, { ...(JSON.parse(readFileSync(file, "utf8")) as StackJson), agentFiles: agentFiles(join(stacksDir, name)) });
  }
  return stacks;
}

/** The files AgentConfig writes beside a stack's JSON (`agent/<application>/<file>`), by `<application>/<file>`. */
function agentFiles(stackDir: string): Record<string, string> | undefined {
  const dir = join(stackDir, "agent");
  if (!existsSync(dir)) return undefined;
  const files: Record<string, string> = {};
  for (const app of readdirSync(dir).sort()) {
    for (const f of readdirSync(join(dir, app)).sort()) files[`${app}/${f}`] = readFileSync(join(dir, app, f), "utf8");
  }
  return files;
}

/**
 * Attributes that make the provider destroy and recreate the resource when they change (ForceNew).
 * `*` means every argument. Kept to the resource types this project synthesizes.
 */
export const FORCES_REPLACEMENT: Readonly<Record<string, readonly string[]>> = {
  postgresql_grant: ["*"],
  postgresql_grant_role: ["*"],
  postgresql_default_privileges: ["*"],
  postgresql_database: ["template", "encoding", "lc_collate", "lc_ctype", "tablespace_name"],
  postgresql_schema: ["database"],
  // renaming a connection recreates the whole mount, and unmounting revokes every lease in it.
  vault_database_secrets_mount: ["local", "seal_wrap", "postgresql.name"],
  vault_database_secret_backend_role: ["name", "backend"],
  postgresql_function: ["name", "schema", "database", "arg", "language", "returns"],
};

interface FlatResource {
  readonly address: string;
  readonly type: string;
  readonly constructPath?: string;
  readonly body: Record<string, unknown>;
}

function flatten(stack: StackJson | undefined): Map<string, FlatResource> {
  const out = new Map<string, FlatResource>();
  for (const [type, byId] of Object.entries(stack?.resource ?? {})) {
    for (const [id, raw] of Object.entries(byId)) {
      const { "//": meta, ...body } = raw as Record<string, unknown> & { "//"?: { metadata?: { path?: string } } };
      const path = meta?.metadata?.path;
      out.set(`${type}.${id}`, {
        address: `${type}.${id}`,
        type,
        // the first segment is the stack name: drop it.
        constructPath: path?.split("/").slice(1).join("/"),
        body,
      });
    }
  }
  return out;
}

/** What people call a resource: its physical name where it has one. */
export function labelOf(type: string, body: Record<string, unknown>): string {
  const pick = (...keys: string[]) => keys.map((k) => body[k]).find((v) => typeof v === "string") as string | undefined;
  if (type === "postgresql_grant" || type === "postgresql_default_privileges") {
    const on = [body.object_type, body.schema].filter((v) => typeof v === "string" && !String(v).startsWith("${"));
    return `${pick("role") ?? "?"} on ${on.join(" ") || body.object_type}`;
  }
  if (type === "postgresql_grant_role") return `${pick("grant_role")} to ${pick("role")}`;
  return pick("name", "path") ?? "";
}

/**
 * Turns `${type.id.attr}` references into the value they will have (`keybuzz_api` for a role's name),
 * so that a reviewer reads names, and a construct-ID rename does not show as a change of every reference.
 */
function resolveRefs(value: unknown, resources: Map<string, FlatResource>): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z0-9_]+)\}/g, (ref, type: string, id: string, attr: string) => {
      const target = resources.get(`${type}.${id}`);
      const v = target?.body[attr];
      return typeof v === "string" && !v.includes("${") ? v : ref;
    });
  }
  if (Array.isArray(value)) return value.map((v) => resolveRefs(v, resources));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveRefs(v, resources)]));
  }
  return value;
}

function resolveBody(r: FlatResource, all: Map<string, FlatResource>): Record<string, unknown> {
  // depends_on lists addresses, which change with construct IDs but not with meaning.
  const { depends_on: _deps, ...rest } = r.body;
  return resolveRefs(rest, all) as Record<string, unknown>;
}

const isBlock = (v: unknown): boolean => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Attribute-level differences, with lists of values compared whole (`creation_statements` before and
 * after), and nested blocks (`postgresql.0` of a secrets mount) attribute by attribute.
 */
export function attributeChanges(before: Record<string, unknown>, after: Record<string, unknown>): AttributeChange[] {
  const seen = new Set<string>();
  const changes: AttributeChange[] = [];
  const valueAt = (obj: unknown, path: readonly (string | number)[]) =>
    path.reduce<unknown>((o, p) => (o as Record<string | number, unknown> | undefined)?.[p], obj);
  for (const d of diff(before, after)) {
    // cut the path at the first index into a list of values: such a list is shown whole.
    const cut = d.path.findIndex(
      (p, i) => typeof p === "number" && !(isBlock(valueAt(before, d.path.slice(0, i + 1))) && isBlock(valueAt(after, d.path.slice(0, i + 1)))),
    );
    const path = cut === -1 ? d.path : d.path.slice(0, cut);
    const key = path.join(".");
    if (seen.has(key)) continue;
    seen.add(key);
    changes.push({ path: key, before: valueAt(before, path), after: valueAt(after, path) });
  }
  return changes.sort((a, b) => a.path.localeCompare(b.path));
}

function wholeBody(body: Record<string, unknown>, side: "before" | "after"): AttributeChange[] {
  return Object.keys(body)
    .sort()
    .map((path) => (side === "before" ? { path, before: body[path] } : { path, after: body[path] }));
}

function replacementReason(type: string, changes: readonly AttributeChange[]): string | undefined {
  const forcing = FORCES_REPLACEMENT[type];
  if (!forcing) return undefined;
  // `postgresql.0.name` is listed as `postgresql.name`: the block's index does not matter.
  const hits = changes
    .map((c) => c.path.split(".").filter((p) => !/^\d+$/.test(p)))
    .map((p) => (forcing.includes(p.join(".")) ? p.join(".") : p[0]))
    .filter((p) => forcing.includes("*") || forcing.includes(p));
  return hits.length ? `changing ${[...new Set(hits)].join(", ")} forces a new ${type}` : undefined;
}

/** cdktf writes each provider as a one-element list: unwrap it so its attributes diff one by one. */
function unwrapProviders(providers: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!providers) return undefined;
  return Object.fromEntries(Object.entries(providers).map(([k, v]) => [k, Array.isArray(v) && v.length === 1 ? v[0] : v]));
}

function stackSettings(before: StackJson | undefined, after: StackJson | undefined): AttributeChange[] {
  const pick = (s: StackJson | undefined) => ({
    backend: (s?.terraform as { backend?: unknown } | undefined)?.backend,
    required_providers: (s?.terraform as { required_providers?: unknown } | undefined)?.required_providers,
    provider: unwrapProviders(s?.provider),
    variable: s?.variable,
    output: s?.output,
    // what each application's hosts and pods run (AgentConfig): not Terraform's, but reviewed with it.
    agent: s?.agentFiles,
  });
  return attributeChanges(
    JSON.parse(JSON.stringify(pick(before))) as Record<string, unknown>,
    JSON.parse(JSON.stringify(pick(after))) as Record<string, unknown>,
  );
}

/**
 * Every application's lease budget on each side, from the values of the stack's `applications` output
 * (`{ <application>: { lease_budget, … } }`; anything else counts as no budget), sorted by application.
 */
export function leaseBudgets(before: unknown, after: unknown): LeaseBudget[] {
  const read = (value: unknown): Map<string, number> => {
    const out = new Map<string, number>();
    if (!value || typeof value !== "object") return out;
    for (const [application, fields] of Object.entries(value as Record<string, unknown>)) {
      const budget = (fields as Record<string, unknown> | null)?.[APPLICATIONS_OUTPUT.leaseBudget];
      if (typeof budget === "number") out.set(application, budget);
    }
    return out;
  };
  const [b, a] = [read(before), read(after)];
  return [...new Set([...b.keys(), ...a.keys()])].sort().map((application) => ({
    application,
    ...(b.has(application) ? { before: b.get(application) } : {}),
    ...(a.has(application) ? { after: a.get(application) } : {}),
  }));
}

/** The value of a synthesized stack's `applications` output. */
const applicationsOutput = (s: StackJson | undefined) => (s?.output?.[APPLICATIONS_OUTPUT.name] as { value?: unknown } | undefined)?.value;

/** Differences of one stack between two synthesized versions (either may be missing). */
export function compareStack(name: string, before: StackJson | undefined, after: StackJson | undefined): StackDiff {
  const old = flatten(before);
  const now = flatten(after);
  // a moved block whose source is not in the base does nothing (Terraform ignores it too).
  const moves = new Map((after?.moved ?? []).filter((m) => old.has(m.from)).map((m) => [m.to, m.from]));
  const removed = [...old.values()].filter((r) => !now.has(r.address) && ![...moves.values()].includes(r.address));
  const added = [...now.values()].filter((r) => !old.has(r.address) && !moves.has(r.address));
  const resources: ResourceChange[] = [];

  // a construct-ID rename: same type, same meaning (references resolved), another address.
  const renamedTo = new Map<string, FlatResource>();
  for (const gone of removed) {
    const goneBody = JSON.stringify(resolveBody(gone, old));
    const twins = added.filter((a) => a.type === gone.type && !renamedTo.has(a.address) && JSON.stringify(resolveBody(a, now)) === goneBody);
    if (twins.length === 1) renamedTo.set(twins[0].address, gone);
  }

  for (const r of removed) {
    if ([...renamedTo.values()].includes(r)) continue;
    const body = resolveBody(r, old);
    resources.push({
      address: r.address,
      type: r.type,
      constructPath: r.constructPath,
      label: labelOf(r.type, body),
      kind: "removed",
      attributes: wholeBody(body, "before"),
    });
  }
  for (const r of added) {
    const from = renamedTo.get(r.address);
    const body = resolveBody(r, now);
    resources.push({
      address: r.address,
      type: r.type,
      constructPath: r.constructPath,
      label: labelOf(r.type, body),
      kind: from ? "replaced" : "added",
      attributes: from ? [] : wholeBody(body, "after"),
      ...(from
        ? {
            renamedFrom: { address: from.address, constructPath: from.constructPath },
            replaceReason: `its construct ID changed (${from.constructPath ?? from.address} → ${r.constructPath ?? r.address})`,
          }
        : {}),
    });
  }
  for (const r of now.values()) {
    const movedFrom = moves.get(r.address);
    const prev = old.get(r.address) ?? (movedFrom ? old.get(movedFrom) : undefined);
    if (!prev) continue;
    const body = resolveBody(r, now);
    const changes = attributeChanges(resolveBody(prev, old), body);
    if (changes.length === 0 && !movedFrom) continue;
    const reason = replacementReason(r.type, changes);
    resources.push({
      address: r.address,
      type: r.type,
      constructPath: r.constructPath,
      label: labelOf(r.type, body),
      kind: reason ? "replaced" : "changed",
      attributes: changes,
      ...(movedFrom ? { movedFrom } : {}),
      ...(reason ? { replaceReason: reason } : {}),
    });
  }
  resources.sort((a, b) => a.address.localeCompare(b.address));
  return {
    stack: name,
    settings: stackSettings(before, after),
    leaseBudgets: leaseBudgets(applicationsOutput(before), applicationsOutput(after)),
    resources,
    source: "synth",
    ...(before ? {} : { status: "new" as const }),
    ...(after ? {} : { status: "deleted" as const }),
  };
}

/** Every stack of either side, compared; sorted by stack name. */
export function compareOutputs(before: Map<string, StackJson>, after: Map<string, StackJson>): StackDiff[] {
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  return names.map((n) => compareStack(n, before.get(n), after.get(n)));
}
