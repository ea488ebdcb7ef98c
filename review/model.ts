/**
 * What the review compares and reports: per stack, resources added, removed, changed, replaced or moved,
 * each with its attributes before and after. Built either from two synthesized `cdktf.out` folders
 * (`compare.ts`) or from a real plan (`plan.ts`); classified by `risk.ts`; rendered by `report.ts`.
 */

/** One attribute that differs: a dotted path (`postgresql.connection_url`) and its values. */
export interface AttributeChange {
  readonly path: string;
  /** undefined when the attribute is new. */
  readonly before?: unknown;
  /** undefined when the attribute is gone. */
  readonly after?: unknown;
}

export type ChangeKind = "added" | "removed" | "changed" | "replaced";

export interface ResourceChange {
  /** `type.logical_id`, as Terraform addresses it. */
  readonly address: string;
  readonly type: string;
  /** The construct path (`BaseRoles/Roles/n8n/Resource`) when known. */
  readonly constructPath?: string;
  /** What people call it: the physical name (`name`, `path`, `role`…), for the report. */
  readonly label: string;
  readonly kind: ChangeKind;
  /** For added/removed: every attribute (before or after only); for changed/replaced: what differs. */
  readonly attributes: readonly AttributeChange[];
  /** Set when Terraform would move state here from another address instead of destroying anything. */
  readonly movedFrom?: string;
  /** Set when a construct-ID rename turns into a destroy-and-create: the address it had before. */
  readonly renamedFrom?: { readonly address: string; readonly constructPath?: string };
  /** Why a change is a replacement (the attributes that force it), when known or guessed. */
  readonly replaceReason?: string;
}

/** One application's lease budget on each side (absent on a side where the application is not). */
export interface LeaseBudget {
  readonly application: string;
  readonly before?: number;
  readonly after?: number;
}

export interface StackDiff {
  readonly stack: string;
  /** Every application's lease budget, before and after (from the stack's `applications` output); empty when neither side has one. */
  readonly leaseBudgets: readonly LeaseBudget[];
  /** Stack-level settings that differ: backend, providers, variables, outputs. */
  readonly settings: readonly AttributeChange[];
  readonly resources: readonly ResourceChange[];
  /** `synth` when built from two synthesized folders, `plan` when built from a real plan. */
  readonly source: "synth" | "plan";
  /** The stack exists only on one side. */
  readonly status?: "new" | "deleted";
}

/** A change a reviewer must read closely, and why. */
export interface Finding {
  readonly stack: string;
  /** The resource concerned, or undefined for a stack setting. */
  readonly resource?: ResourceChange;
  readonly reason: string;
}
