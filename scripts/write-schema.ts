/**
 * Writes `config/schema.json`, the JSON Schema of an environment file, from the zod schema in
 * `stacks/environment/schema.ts` (`npm run schema`). Editors use it through each file's `$schema` for completion and
 * checks; `test/scripts/write-schema.test.ts` fails when the committed file lags behind the schema.
 *
 * The input shape is what a file may contain (durations as `"1h"` or seconds, defaults optional), so the
 * schema is generated with `io: "input"`. Cross-field rules (TTL ordering, known base roles, prod rules)
 * are not expressible in JSON Schema: `npm run synth` checks them.
 *
 * @see https://zod.dev/json-schema
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { environmentSchema } from "../stacks/environment";

/** Where the schema is written, next to the environment files. */
export const SCHEMA_PATH = join(__dirname, "..", "config", "schema.json");

/** The JSON Schema text, pretty-printed with a trailing newline, as committed. */
export function renderSchema(): string {
  const schema = z.toJSONSchema(environmentSchema, { io: "input" });
  return `${JSON.stringify(schema, null, 2)}\n`;
}

if (require.main === module) {
  writeFileSync(SCHEMA_PATH, renderSchema());
  process.stdout.write(`wrote ${SCHEMA_PATH}\n`);
}
