#!/usr/bin/env bash
# The main job of `make run`: the policy tool chain on the example policy, then (as root)
# the engine on namespace hosts (plan, apply, drift, remediation), then the audit:
# flows judged against the policy from the hosts' NFLOG spools and from an exported AWS
# flow log, and the compliance report. Each step is printed with its command.
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

# The audit of exported logs needs no engine: an AWS VPC flow log as S3 holds it, with
# its times moved to the last hour so that the report's window holds them.
demo_state=${MICROSEG_STATE:-.microseg}
mkdir -p "$demo_state"
now=$(date +%s)
awk -v now="$now" 'NR == 1 { print; next } { if ($11 ~ /^[0-9]+$/) { d = $12 - $11; $11 = now - 3600 + (NR * 60) % 3000; $12 = $11 + d } print }' \
	examples/flowlogs/aws-three-tier.log >"$demo_state/aws-three-tier.log"
step "audit: judge an exported AWS flow log against the policy (offline, no cloud access)" \
	audit -flows "$demo_state/aws-three-tier.log" -format aws -target prod-use1 "$ex"
step "discover: propose segments and allows from the same log (application dependency mapping)" \
	discover -flows "$demo_state/aws-three-tier.log" -format aws -target prod-use1 "$ex"

# The engine: the embedded Temporal server, an agent per on-prem host (the example's
# dc1 hosts, as network namespaces on this machine), plan, apply, drift, remediation.
missing=""
[ "$(id -u)" = 0 ] || missing="$missing root"
command -v ip >/dev/null || missing="$missing ip (apt-get install iproute2)"
command -v nft >/dev/null || missing="$missing nft (apt-get install nftables)"
if [ -n "$missing" ]; then
	echo
	echo "make run: the engine makes its hosts as network namespaces, and needs:$missing." >&2
	echo "make run: run it as root (sudo make run), which installs ip and nft itself." >&2
	exit 1
fi
export MICROSEG_STATE=${MICROSEG_STATE:-.microseg}
# The example's cloud targets point at real clouds: the demo plans the on-prem target
# only, and never lets the AWS SDK look for instance credentials on the network.
export AWS_EC2_METADATA_DISABLED=true
hosts="db-01 db-02 mon-01"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	for h in $hosts; do ip netns del "msrun-$h" 2>/dev/null; done
}
trap cleanup EXIT
for h in $hosts; do ip netns del "msrun-$h" 2>/dev/null; ip netns add "msrun-$h"; done
mkdir -p "$MICROSEG_STATE"
printf '\n== engine: start the embedded Temporal server, a worker and one agent per host (logs in %s)\n' "$MICROSEG_STATE"
"$bin" server >"$MICROSEG_STATE/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/${MICROSEG_TEMPORAL_PORT:-7233}) 2>/dev/null && break; sleep 0.1; done
"$bin" worker >"$MICROSEG_STATE/worker.log" 2>&1 &
pids+=($!)
for h in $hosts; do
	"$bin" agent -target dc1 -host "$h" -netns "msrun-$h" >"$MICROSEG_STATE/agent-$h.log" 2>&1 &
	pids+=($!)
done
step "engine: plan the on-prem target dc1 (every host through its agent)" plan -target dc1 -detailed-exitcode "$ex"
step "engine: apply (commit-confirmed on each host, confirmed, verified)" apply -target dc1 -auto-approve "$ex"
printf '\n== engine: the table the kernel now holds on db-01, as nft lists it (input chain)\n'
ip netns exec msrun-db-01 nft --stateless list chain inet microseg input
printf '\n== engine: someone deletes an element and adds a rule on db-01 by hand\n'
ip netns exec msrun-db-01 nft delete element inet microseg in4_range '{ 10.30.0.0/24 . tcp . 5432 }'
ip netns exec msrun-db-01 nft insert rule inet microseg input tcp dport 4444 accept
step "engine: drift detected" drift -target dc1 -detailed-exitcode "$ex"
step "engine: remediated (the plan removes the hand-added rule: approved with -auto-approve)" apply -target dc1 -auto-approve "$ex"
step "engine: no drift left" drift -target dc1 -detailed-exitcode "$ex"

printf '\n== audit: db-01 tries to reach the app tier on ssh and the monitoring host on 9100 (its policy allows neither)\n'
ip netns exec msrun-db-01 sh -c 'ip link add d0 type veth peer name d1 && ip addr add 10.20.0.11/16 dev d0 && ip link set d0 up && ip link set d1 up && ip route add default dev d0'
for port in 22 22 22 9100; do ip netns exec msrun-db-01 timeout 1 bash -c "exec 3<>/dev/tcp/10.30.0.5/$port" 2>/dev/null; done
sleep 2
step "audit: the Audit workflow reads every host's NFLOG spool (and the clouds' logs, when reachable)" audit -target dc1 "$ex"
step "report: the compliance report, as Markdown (also html, json, csv)" report -format md "$ex"
step "report: the same report as one self-contained HTML file" report -format html -o "$MICROSEG_STATE/report.html" "$ex"
step "graph: the segment graph with the observed flows, for Graphviz" graph -format dot -o "$MICROSEG_STATE/graph.dot" "$ex"
printf '\n== done: agents and server stopped, namespaces removed; state kept in %s\n' "$MICROSEG_STATE"
