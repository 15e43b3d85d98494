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
# Every Fuzz* target in the module runs briefly; the list is discovered, not hand-kept.
#
# What was wrong before, and why the runs look like this (measured on the
# 2-core CI machine kind; docs/architecture.md, "Testing"):
# - Budget in executions, not seconds (FUZZEXECS, default 20000 per target).
#   A -fuzztime in seconds arms a context deadline in Go's fuzz coordinator,
#   and Go 1.26's coordinator can report its own deadline as a failure
#   ("context deadline exceeded", no input written): it compares the
#   deadline error with the worker context's error before that child
#   context is cancelled. That is the CI run that failed inside the
#   transcript targets and passed again. A count (-fuzztime Nx) sets no
#   deadline, so the race cannot happen; and the count is executions of new
#   inputs, so the time spent replaying the cached corpus (the "gathering
#   baseline coverage" phase, up to 4 of 5 seconds for the server's handler
#   fuzzer with a warm cache) no longer eats the budget.
# - No minimisation (-fuzzminimizetime 0s). By default every input that
#   finds new coverage is minimised for up to 60 s before it joins the
#   corpus, and those executions are not counted: with a fresh cache a 5 s
#   run did 20 executions and then showed "0/sec" until the end, adding
#   nothing to the corpus. A crasher is written unminimised, and it still
#   reproduces.
# - -parallel FUZZPARALLEL (default: the number of CPUs). Each worker is a
#   process; more workers than cores only adds contention, and on a shared
#   machine starved workers are what a low exec rate means.
# - A failure prints the failing input (the testdata/fuzz file, which go
#   writes into the package) and the command that reproduces it, then stops.
# FUZZTIME=30s runs each target for a duration instead (for a longer local
# run); a bare "context deadline exceeded" is then retried once.
fuzzexecs=${FUZZEXECS:-20000}
fuzzpar=${FUZZPARALLEL:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
if [ -n "${FUZZTIME:-}" ]; then budget=$FUZZTIME; else budget="${fuzzexecs}x"; fi
echo "budget per target: $budget, $fuzzpar workers, no minimisation"
targets=$(grep -oE '^func Fuzz[A-Za-z0-9_]+' $(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go') /dev/null |
  sed -E 's|^(.*)/[^/]*_test\.go:func |./\1 |' | sort -u)
if [ -z "$targets" ]; then echo "no fuzz targets found"; exit 1; fi
fuzz_one() { # pkg name
  go test -run '^$' -fuzz "^$2\$" -fuzztime "$budget" -fuzzminimizetime 0s -parallel "$fuzzpar" "$1" </dev/null 2>&1
}
fuzz_inputs() { # pkg name: the failing inputs go has written, one per line
  ls "$1/testdata/fuzz/$2" 2>/dev/null | sort || true
}
fuzz_failed() { # pkg name before-listing output
  local new f
  new=$(comm -13 <(printf '%s\n' "$3") <(fuzz_inputs "$1" "$2") | sed '/^$/d')
  if [ -z "$new" ]; then
    # A seed (f.Add) that fails is named by the output, not written to a file.
    new=$({ grep -oE "$2/[A-Za-z0-9#._-]+" <<< "$4" || true; } | sed "s|^$2/||" | sort -u | head -3) || true
    if [ -z "$new" ]; then
      echo "-- $1 $2: no input failed (the package did not build, or the harness failed: see above)"
      echo "-- reproduce: go test -run '^$2\$' $1"
    fi
    for f in $new; do
      if [ -f "$1/testdata/fuzz/$2/$f" ]; then
        echo "-- $1 $2: failing input $1/testdata/fuzz/$2/$f (already in the corpus):"
        cat "$1/testdata/fuzz/$2/$f"; echo
      else
        echo "-- $1 $2: failing input $f (a seed added with f.Add in the target)"
      fi
      echo "-- reproduce: go test -run '^$2/$f\$' $1"
    done
    return
  fi
  for f in $new; do
    echo "-- $1 $2: failing input $1/testdata/fuzz/$2/$f:"
    cat "$1/testdata/fuzz/$2/$f"; echo
    echo "-- reproduce: go test -run '^$2/$f\$' $1"
  done
}
while read -r pkg name; do
  before=$(fuzz_inputs "$pkg" "$name")
  if ! out=$(fuzz_one "$pkg" "$name"); then
    echo "$out"
    if [ -n "${FUZZTIME:-}" ] && grep -q 'context deadline exceeded' <<< "$out" &&
      [ "$(fuzz_inputs "$pkg" "$name")" = "$before" ]; then
      echo "-- $pkg $name: the fuzz coordinator's own deadline (no input failed), running it again once"
      if out=$(fuzz_one "$pkg" "$name"); then echo "$out" | tail -2; continue; fi
      echo "$out"
    fi
    fuzz_failed "$pkg" "$name" "$before" "$out"
    echo "-- $pkg $name FAILED"
    exit 1
  fi
  # One line per target: what really ran (new inputs executed, time, corpus).
  last=$(grep -E '^fuzz: elapsed: .*execs: ' <<< "$out" | tail -1)
  execs=$(sed -E 's/.*execs: ([0-9]+).*/\1/' <<< "$last")
  if [ -z "$budget" ] || [ -z "$execs" ] || { [ -z "${FUZZTIME:-}" ] && [ "$execs" -lt "$fuzzexecs" ]; }; then
    echo "$out"; echo "-- $pkg $name: ran ${execs:-no} executions, not its budget of $budget"; exit 1
  fi
  echo "-- $pkg $name: ${last#fuzz: }"
done <<< "$targets"

echo "== go test -race"
# The client package runs real servers and many clients; under -race on a
# loaded 2-core machine it passed 10 minutes (go test's default per
# package) in a local CI run, a slow machine and not a hang (its slowest
# test took 80 s alone). A hang still ends, with every goroutine printed.
go test -race -count=1 -timeout 20m ./...
