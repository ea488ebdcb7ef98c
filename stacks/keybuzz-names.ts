/**
 * The names KeyBuzz gives what the constructs leave to their user (the constructs ship neutral defaults):
 * written once here, and read by the stack, `npm run leases`, `npm run sandbox` and the bench.
 */
import { LEASE_AUDIT_NAMES as AUDIT } from "../constructs/lease-audit";

/** The schema of the functions that create, renew and drop issued users (`keybuzz_vault.create_user(…)`). */
export const FUNCTIONS_SCHEMA = "keybuzz_vault";

/** The lease audit's Vault roles and policies, base roles and schema. */
export const LEASE_AUDIT_NAMES = AUDIT;
