import { defineConfig } from 'vitest/config';

/**
 * Unit tests alone, without the servers of the main config's globalSetup:
 * `npx vitest run --root . --config test/unit/vitest.unit.config.ts`.
 */
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    pool: 'forks',
  },
});
