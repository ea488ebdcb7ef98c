import { defineConfig } from "vitest/config";

// `unit` needs no server. real-server suites will live in test/e2e/ as a project of their own.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/*.test.ts", "test/review/*.test.ts"],
          testTimeout: 60_000,
        },
      },
    ],
  },
});
