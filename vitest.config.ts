import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["{api,kube,operator,agent,test,bench}/**/*.test.ts"],
    // The CEL and schema tests compile every rule; keep the default pool but allow slow CI machines time.
    testTimeout: 30_000,
  },
});
