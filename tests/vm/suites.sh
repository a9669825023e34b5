#!/bin/sh
# Inside the VM (tests/vm/run.sh): runs each test binary given (built on the host, one
# test at a time) and then the demo's path (tests/lab/demo.sh with its binaries built
# on the host), prints one line per suite with its time, and fails if any failed.
#
#   tests/vm/run.sh sh tests/vm/suites.sh target/debug/deps/lab_calls-0123abcd ...
failed=""
for bin in "$@"; do
  name=$(basename "$bin" | sed 's/-[0-9a-f]*$//')
  start=$(date +%s)
  if "$bin" --test-threads=1; then
    result=passed
  else
    result=FAILED
    failed="$failed $name"
  fi
  echo "vm: suite $name $result ($(($(date +%s) - start)) s)"
done
start=$(date +%s)
mkdir -p target
if SIPALG_DEMO_PREBUILT=1 bash tests/lab/demo.sh >target/vm-demo.log 2>&1 &&
  bash tests/lab/demo-check.sh target/vm-demo.log; then
  result=passed
else
  result=FAILED
  failed="$failed demo"
  cat target/vm-demo.log
fi
echo "vm: demo $result ($(($(date +%s) - start)) s)"
[ -z "$failed" ] || { echo "vm: failed:$failed"; exit 1; }
