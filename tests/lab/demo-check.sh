#!/usr/bin/env bash
# Checks a demo run's output (tests/lab/demo.sh > LOG): it must show a rewritten INVITE
# and both calls in the status table. Used by tests/run-all.sh's demo and vm stages.
#
#   bash tests/lab/demo-check.sh LOG
set -euo pipefail
log="${1:?usage: demo-check.sh LOG}"
ok=1
for want in '^  + Via: SIP/2.0/UDP 198.51.100.1:5060' '^  + c=IN IP4 198.51.100.1' \
  '^Calls (2)' 'demo-out outbound confirmed'; do
  grep -q -- "$want" "$log" || { echo "demo output lacks: $want" >&2; ok=0; }
done
[ "$ok" = 1 ]
