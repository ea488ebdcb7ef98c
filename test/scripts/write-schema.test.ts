import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderSchema, SCHEMA_PATH } from "../../scripts/write-schema";
import { ROOT } from "../helpers";

describe("write-schema", () => {
  it("writes to config/schema.json", () => {
    expect(SCHEMA_PATH).toBe(join(ROOT, "config", "schema.json"));
  });

  it("has config/schema.json up to date with the schema (run `npm run schema`)", () => {
    expect(readFileSync(SCHEMA_PATH, "utf8")).toBe(renderSchema());
  });

  it("describes the input: durations as seconds or strings, defaults optional, unknown fields refused", () => {
    const schema = JSON.parse(renderSchema());

    expect(schema).toMatchObject({ type: "object", required: ["vault", "postgres", "applications"], additionalProperties: false });
    const application = schema.properties.applications.items;
    expect(application.required).toEqual(["name", "baseRole", "vaultRole"]);
    expect(application.properties.defaultTtl.type).toEqual(["number", "string"]);
    expect(application.additionalProperties).toBe(false);
  });

  it("is what every environment file points its editor to", () => {
    for (const env of ["dev", "local", "prod", "staging"]) {
      const config = JSON.parse(readFileSync(join(ROOT, "config", `${env}.json`), "utf8"));
      expect(config.$schema, env).toBe("./schema.json");
    }
  });
});
