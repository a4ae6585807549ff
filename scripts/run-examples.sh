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

# On-prem hosts: the example's dc1 hosts as network namespaces on this machine.
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v nft >/dev/null; then
	echo
	echo "== hosts: skipped (needs root, ip and nft to make network namespaces)"
	exit 0
fi
hosts="db-01 db-02 mon-01"
cleanup() { for h in $hosts; do ip netns del "msrun-$h" 2>/dev/null; done; }
trap cleanup EXIT
cleanup
for h in $hosts; do ip netns add "msrun-$h"; done
host() { sub=$1 name=$2; shift 2; "$bin" host "$sub" -target dc1 -host "$name" -netns "msrun-$name" "$@"; }
hstep() {
	printf '\n== %s\n$ microseg host %s\n' "$1" "${*:2}"
	host "${@:2}"
	local code=$?
	printf '(exit %d)\n' "$code"
	if [ "$code" -ne 0 ] && [ "$code" -ne 2 ]; then
		echo "make run: step failed: microseg host ${*:2}" >&2
		exit 1
	fi
}
hstep "hosts: what db-01 has before (nothing: exit 2, drift)" drift db-01 -detailed-exitcode "$ex"
for h in $hosts; do hstep "hosts: apply the policy to $h (one atomic transaction)" apply "$h" "$ex"; done
printf '\n== hosts: the table the kernel holds on db-01, as nft lists it (inputs)\n'
ip netns exec msrun-db-01 nft --stateless list chain inet microseg input
printf '\n== hosts: someone deletes an element and adds a rule by hand\n'
ip netns exec msrun-db-01 nft delete element inet microseg in4_range '{ 10.30.0.0/24 . tcp . 5432 }'
ip netns exec msrun-db-01 nft insert rule inet microseg input tcp dport 4444 accept
hstep "hosts: drift detected" drift db-01 -detailed-exitcode "$ex"
hstep "hosts: remediated" apply db-01 "$ex"
hstep "hosts: no drift left" drift db-01 -detailed-exitcode "$ex"
