/**
 * `moved` blocks: where a resource's address changed between two versions of this app (a construct moved
 * under another), the stack tells Terraform, so that a plan after the upgrade moves it in state and changes
 * nothing. The constructs know nothing of this history; the stack that had the old addresses writes them.
 *
 * KeybuzzStack's: each application's dynamic role and policy lived directly under the stack
 * (`DynamicRoles/<name>`, `Policies/<name>`) before the Application construct. The blocks can go once every
 * environment has been applied since; `npm run review` then shows each as a plain no-op.
 */
import type { Node } from "constructs";
import { Lazy, TerraformStack, type TerraformResource } from "cdktf";

/** The moved blocks of each stack, written as one `moved` list (see {@link movedFrom}). */
const MOVES = new WeakMap<TerraformStack, (() => { from: string; to: string })[]>();

/**
 * Adds a `moved` block to `resource`'s stack, from the address the resource had at construct path `from`
 * (relative to its stack) as the stack's own naming scheme computes it: the address an earlier version of
 * this code gave it. Written as plain `moved` blocks rather than with cdktf's `moveFromId`, which makes
 * every synth run `terraform version` once per stack (to check for 1.5, when the stack's ephemeral variable
 * already needs 1.11), failing on a machine with OpenTofu and no `terraform`, and costing 50 ms a stack.
 */
export function movedFrom(resource: TerraformResource, from: readonly string[]): void {
  const stack = TerraformStack.of(resource);
  let moves = MOVES.get(stack);
  if (!moves) {
    const list: (() => { from: string; to: string })[] = [];
    stack.addOverride("moved", Lazy.anyValue({ produce: () => list.map((move) => move()) }));
    MOVES.set(stack, list);
    moves = list;
  }
  // getLogicalId (the naming scheme, allocateLogicalId) reads only the node's scopes and their IDs.
  const scopes = [stack, ...from.map((id) => ({ node: { id } }))];
  const previous = `${resource.terraformResourceType}.${stack.getLogicalId({ scopes } as unknown as Node)}`;
  moves.push(() => ({ from: previous, to: `${resource.terraformResourceType}.${resource.friendlyUniqueId}` }));
}
