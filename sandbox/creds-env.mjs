#!/usr/bin/env node
/**
 * Reads a credentials answer of OpenBao or Vault as JSON on stdin (`bao read -format=json
 * database/creds/<role>`) and prints shell exports for libpq and the lease:
 *
 *   export PGUSER='v-…' PGPASSWORD='…' LEASE_ID='database/creds/<role>/…'
 *
 * for `eval "$(… | node creds-env.mjs)"`, so that `psql`, `bao lease renew "$LEASE_ID"` and
 * `bao lease revoke -sync "$LEASE_ID"` use that one credential. Used by the commands `npm run sandbox` prints.
 */
import { readFileSync } from "node:fs";

const quote = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

const answer = JSON.parse(readFileSync(0, "utf8"));
const { username, password } = answer.data ?? {};
if (!username || !password || !answer.lease_id) {
  process.stderr.write("creds-env: expected a database credentials answer (data.username, data.password, lease_id) on stdin\n");
  process.exit(1);
}
process.stdout.write(`export PGUSER=${quote(username)} PGPASSWORD=${quote(password)} LEASE_ID=${quote(answer.lease_id)}\n`);
