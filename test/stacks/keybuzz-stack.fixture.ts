/**
 * What the tests of KeybuzzStack share: the committed config folder, its four applications, a stack
 * synthesized from local.json with a change, and the policies an auth role's tokens carry.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type TerraformStack, Testing } from "cdktf";
import { parseEnvironment } from "../../stacks/environment";
import { KeybuzzStack, stackName } from "../../stacks/keybuzz-stack";
import { ROOT, testApp, type TfJson, type TfResource } from "../helpers";

export const CONFIG_DIR = join(ROOT, "config");

/** The applications of the committed files, with their base role and Vault role. */
export const APPLICATIONS = [
  { name: "keybuzz-api", baseRole: "keybuzz_api", vaultRole: "keybuzz-api-db" },
  { name: "chatwoot", baseRole: "chatwoot", vaultRole: "chatwoot-db" },
  { name: "n8n", baseRole: "n8n", vaultRole: "n8n-db" },
  { name: "workers", baseRole: "keybuzz_workers", vaultRole: "workers-db" },
];

/** The names of the policies an auth role's tokens carry, resolved from their `${vault_policy.<id>.name}` references. */
export function policiesOf(json: TfJson, role: TfResource): string[] {
  return (role.token_policies as string[]).map((reference) => {
    const id = /^\$\{vault_policy\.([^.]+)\.name\}$/.exec(reference)?.[1];
    if (!id) throw new Error(`not a reference to a vault_policy: ${reference}`);
    return json.resource.vault_policy[id].name as string;
  });
}

/** Synthesizes local.json with changes applied to its JSON, in a test stack (metadata removed). */
export function synthVariant(change: (config: TfJson) => void, environment = "local"): { json: TfJson; stack: TerraformStack } {
  const data = JSON.parse(readFileSync(join(CONFIG_DIR, "local.json"), "utf8")) as TfJson;
  change(data);
  const config = parseEnvironment(environment, `config/${environment}.json`, JSON.stringify(data));
  const stack = new KeybuzzStack(testApp(), stackName(environment), { config });
  return { json: JSON.parse(Testing.synth(stack)) as TfJson, stack };
}
