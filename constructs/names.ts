/**
 * The naming rules every construct checks, in one place.
 */

/** A Vault path segment (a role, policy, connection or mount name): `keybuzz-api-db`. */
export const VAULT_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** A safe, unquoted PostgreSQL identifier of at most 63 bytes: `keybuzz_api`. */
export const PG_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
