#!/usr/bin/env bash
# The main job of `make run`, until the engine (plan/apply against live targets) lands:
# the policy tool chain on the example policy, each step printed with its command.
set -uo pipefail
bin=${1:-bin/microseg}
ex=examples/three-tier
step() {
	printf '\n== %s\n$ microseg %s\n' "$1" "${*:2}"
	"$bin" "${@:2}"
	local code=$?
	printf '(exit %d)\n' "$code"
	# 2 is an answer (findings, a denied flow, changes); 1 is a failure.
	if [ "$code" -ne 0 ] && [ "$code" -ne 2 ]; then
		echo "make run: step failed: microseg ${*:2}" >&2
		exit 1
	fi
}
step "validate: does the policy load and compile?" validate "$ex"
step "fmt: is every file in canonical layout?" fmt -check "$ex"
step "lint: anything risky, dead or expiring?" lint "$ex"
step "lint as of a later date: the batch allow is about to expire" lint -now 2027-06-15 -severity warning "$ex"
step "compile: what the on-prem hosts must enforce" compile -target dc1 "$ex"
step "check: may app reach the database?" check -from segment.app -to segment.db -port tcp/5432 "$ex"
step "check: may web reach the database directly?" check -from segment.web -to segment.db -port tcp/5432 "$ex"
step "blast-radius: what can a compromised load balancer reach?" blast-radius segment.lb "$ex"
step "diff-policy: what does the next version change?" diff-policy "$ex" "$ex-next"
