#!/usr/bin/env bash
# bench/profile.sh: where the gateway's CPU goes under load, from outside
# the process: perf samples the gateway (call graphs, the kernel's share
# included) while wrk drives one query, as bench/run.sh drives it.
#
#   BENCH_KEEP=1 SCALE=10 bench/profile.sh        # seeds, keeps the cluster
#   BENCH_DIR=/tmp/gwbench.XXXXXX QUERY=q1 bench/profile.sh
#
# It prepares and starts the gateway as bench/run.sh does (whose functions
# it sources), warms up, runs wrk at CONNS connections for DURATION seconds
# with `perf record -g` on the gateway's pid, and prints the requests a
# second, the gateway's CPU per request, the kernel's share of its samples
# and the functions with the most samples, flat and with their callees
# (perf report). perf.data stays in PERF_DATA for perf report to read
# further.
#
# Settings (environment):
#   QUERY=q3         the query: q1, q2, q3, q4 or typename
#   CONNS=32         wrk connections
#   DURATION=10      seconds sampled
#   TOP=40           functions listed
#   PERF_DATA=/tmp/gateway-perf.data
#   BENCH_VARIANTS   one variant, as in bench/run.sh (default, or settings)
#   SCALE, BENCH_KEEP, BENCH_DIR, WARMUP ...   as in bench/run.sh
set -euo pipefail

if [[ "${BENCH_NICE:-1}" != 0 && "$(nice)" -lt 10 ]]; then
	exec nice -n 10 env BENCH_NICE=0 "$0" "$@"
fi

: "${DURATION:=10}" "${WARMUP:=5}" # before run.sh sets its own defaults
# shellcheck source=bench/run.sh
source "$(dirname "${BASH_SOURCE[0]}")/run.sh"
QUERY=${QUERY:-q3}
CONNS=${CONNS:-32}
TOP=${TOP:-40}
PERF_DATA=${PERF_DATA:-/tmp/gateway-perf.data}
[[ " ${QUERIES[*]} " == *" $QUERY "* ]] || die "QUERY=$QUERY: one of ${QUERIES[*]}"
[[ "${BENCH_VARIANTS:-default}" != *";"* ]] || die "BENCH_VARIANTS: one variant"

profile_main() {
	need_tools
	command -v perf >/dev/null || die "perf is needed (Debian: linux-perf)"
	prepare
	start_gateways
	RESULTS=$WORK/results
	: >"$RESULTS"
	log "warming up ${WARMUP}s"
	run_wrk "$CONNS" "$QUERY" 0 "$WARMUP"
	: >"$RESULTS"
	log "sampling $QUERY at $CONNS connections for ${DURATION}s"
	perf record -F 999 -g -p "${PIDS[0]}" -o "$PERF_DATA" -- sleep "$DURATION" >/dev/null 2>&1 &
	local perf_pid=$!
	run_wrk "$CONNS" "$QUERY" 0 "$DURATION"
	wait "$perf_pid" || die "perf record failed (perf_event_paranoid: $(cat /proc/sys/kernel/perf_event_paranoid))"
	awk '{ printf "\n%s at %s connections: %.0f req/s, gateway CPU %.3f ms per request\n", $2, substr($1, 3), $4, $8 }' "$RESULTS"
	# head ends the pipes early: perf's SIGPIPE is not a failure.
	{ perf report -i "$PERF_DATA" --no-children --sort dso --stdio -g none 2>/dev/null | grep '%' | head -3 |
		sed 's/^/  samples by object: /'; } || true
	echo
	echo "Flat (the function itself):"
	{ perf report -i "$PERF_DATA" --no-children --sort symbol --stdio -g none 2>/dev/null | grep '%' | head -"$TOP" | cut -c1-140; } || true
	echo
	echo "With callees (cumulative):"
	{ perf report -i "$PERF_DATA" --children --sort symbol --stdio -g none 2>/dev/null | grep '%' | head -"$TOP" | cut -c1-140; } || true
	echo
	log "perf report -i $PERF_DATA reads the samples further"
}

profile_main "$@"
