#!/usr/bin/env bash
# Fails unless the given `control` binary holds no simulator: neither the
# simulated Gateway's example passwords nor any symbol of the `sim` crate.
# With --expect-sim the opposite (a dev-featured build), which also proves
# that the checks can see what they look for.
#   scripts/check-release-binary.sh [--expect-sim] path/to/control
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
expect_sim=false
if [ "${1:-}" = --expect-sim ]; then expect_sim=true; shift; fi
bin="${1:?usage: $0 [--expect-sim] path/to/control}"
[ -x "$bin" ] || die "$bin: no such executable"

# The example passwords are "<user>-dev-password" (sim/src/gateway.rs).
passwords=$(grep -c -a -F -- '-dev-password' "$bin" || true)
# `sim::…` items, in legacy (_ZN3sim) or v0 (…3sim) mangling, demangled by nm.
symbols=$(nm -C "$bin" 2>/dev/null | grep -c -E '[ <(]sim::' || true)
[ "$(nm "$bin" 2>/dev/null | wc -l)" -gt 0 ] || die "$bin has no symbol table: cannot check for the simulator"

if $expect_sim; then
  [ "$passwords" -gt 0 ] && [ "$symbols" -gt 0 ] ||
    die "$bin: expected the simulator (dev feature) but found passwords=$passwords sim symbols=$symbols"
  echo "$bin: dev build, simulator present ($symbols sim symbols)"
else
  [ "$passwords" -eq 0 ] && [ "$symbols" -eq 0 ] ||
    die "$bin holds the simulator: $passwords lines with example passwords, $symbols sim symbols (built with --features dev?)"
  echo "$bin: no simulator (no example passwords, no sim symbols)"
fi
