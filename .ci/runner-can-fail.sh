#!/usr/bin/env bash
# Self-check: the test runner, with the project's own config (its global set-up starts the real
# servers), must exit non-zero when a test fails. If it does not, no test result can be trusted.
set -uo pipefail
cd "$(dirname "$0")/.."
probe="test/zz-runner-self-check-$$.test.ts"
trap 'rm -f "$probe"' EXIT
printf "import { expect, it } from 'vitest';\nit('fails on purpose', () => expect(1).toBe(2));\n" >"$probe"
if npx vitest run "$probe" >/tmp/runner-self-check.log 2>&1; then
  echo "CI self-check FAILED: the test runner cannot report failures: a failing test exited 0" >&2
  echo "(output in /tmp/runner-self-check.log)" >&2
  exit 1
fi
if ! grep -q "1 failed" /tmp/runner-self-check.log; then
  echo "CI self-check FAILED: the probe test did not run; runner output:" >&2
  tail -20 /tmp/runner-self-check.log >&2
  exit 1
fi
echo "CI self-check: the test runner exits non-zero on a failing test"
