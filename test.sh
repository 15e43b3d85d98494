#!/usr/bin/env bash
# The project's test command: formatting, vet, staticcheck, race-enabled tests,
# the independent protocol-vector checker and short fuzz runs. CI calls this.
set -euo pipefail
cd "$(dirname "$0")"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== staticcheck"
if command -v staticcheck >/dev/null 2>&1; then
  staticcheck ./...
elif [ -x "$(go env GOPATH)/bin/staticcheck" ]; then
  "$(go env GOPATH)/bin/staticcheck" ./...
else
  echo "staticcheck not installed (run .ci/run or: go install honnef.co/go/tools/cmd/staticcheck@v0.7.0)"; exit 1
fi

echo "== independent vector checker (node)"
if [ -f tools/vectorcheck/check.mjs ]; then
  node tools/vectorcheck/check.mjs testdata
fi

echo "== short fuzz runs"
fuzztime=${FUZZTIME:-5s}
# Every Fuzz* target in the module runs briefly; the list is discovered, not hand-kept.
targets=$(grep -oE '^func Fuzz[A-Za-z0-9_]+' $(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go') /dev/null |
  sed -E 's|^(.*)/[^/]*_test\.go:func |./\1 |' | sort -u)
if [ -z "$targets" ]; then echo "no fuzz targets found"; exit 1; fi
while read -r pkg name; do
  echo "-- $pkg $name"
  # No minimisation of new coverage inputs: when one is found just before
  # -fuzztime ends, Go's fuzzer reports "context deadline exceeded" as a
  # failure. A crasher is still reported (unminimised). That one message is
  # retried once, printed; any other failure stops the run.
  if ! out=$(go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 0s "$pkg" </dev/null 2>&1); then
    echo "$out"
    if grep -q 'context deadline exceeded' <<< "$out" && ! grep -q 'testdata/fuzz' <<< "$out"; then
      echo "-- $pkg $name: the fuzzer's own deadline, running it again once"
      go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 0s "$pkg" </dev/null
    else
      exit 1
    fi
  else
    echo "$out" | tail -2
  fi
done <<< "$targets"

echo "== go test -race"
go test -race -count=1 ./...
