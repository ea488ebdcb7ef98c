/**
 * The names of the `local` stack the bench deploys, read from config/local.json through the project's config
 * loader (stacks/environment) rather than restated: the applications' Vault roles the churns cycle through,
 * the role the credential section measures, and where its connection lives in Vault.
 */
import { join } from "node:path";
import { PROJECT_ROOT } from "../harness/stack";
import { loadEnvironments } from "../stacks/environment";

/** What the bench needs to know of the `local` environment's names. */
export interface LocalStackNames {
  /** Every application's Vault role (`keybuzz-api-db`, …), in config order: what the churns and the lease audit's issuance cycle through. */
  readonly vaultRoles: readonly string[];
  /** The first application's Vault role and base role: the role the credential section measures, and the base role its runbook twin grants. */
  readonly projectRole: { readonly vaultRole: string; readonly baseRole: string };
  /** The database secrets engine's path (`database`). */
  readonly mountPath: string;
  /** The Vault connection's name (`keybuzz-postgres`): its config is at `<mountPath>/config/<connectionName>`. */
  readonly connectionName: string;
}

/**
 * Reads `local.json` in `configDir` (validated, defaults filled in, as the synth reads it).
 *
 * @param configDir the config folder; default the project's config/
 */
export function localStackNames(configDir = join(PROJECT_ROOT, "config")): LocalStackNames {
  const [local] = loadEnvironments(configDir, ["local"]);
  const [first] = local.applications;
  return {
    vaultRoles: local.applications.map((a) => a.vaultRole),
    projectRole: { vaultRole: first.vaultRole, baseRole: first.baseRole },
    mountPath: local.vault.mountPath,
    connectionName: local.connection.name,
  };
}
