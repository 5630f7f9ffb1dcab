#!/usr/bin/env bash
# bench/overload.sh: the gateway past its capacity, with the admission bound
# (MAX_CONCURRENT_REQUESTS) off and on.
#
#   bench/overload.sh                       # SCALE=200, 32 and 1,000 connections, 10 s each (~1.5 min)
#   CONNS="1000 2000" DURATION=20 bench/overload.sh
#   BENCH_VARIANTS="MAX_CONCURRENT_REQUESTS=0;default;MAX_CONCURRENT_REQUESTS=20 ADMISSION_QUEUE=0" bench/overload.sh
#
# It prepares as bench/run.sh does (whose functions it sources: a throwaway
# cluster seeded with `gateway seed` at 1/SCALE, `gateway dev` per variant,
# credentials from mint_auth), checks the query's answer once, warms each
# gateway up, then for every connection count runs bench/overload (a Go
# closed-loop load generator: each connection sends its next request as
# soon as its answer came, a refused one included) against each gateway in
# turn. Per run it prints the admitted requests a second (200 without a
# GraphQL error), the share refused (503 with Retry-After), p50 and p99 of
# the admitted requests and p99 of the refusals, other answers and failed
# requests, the gateway's CPU (utime + stime over the run, in cores) and
# its peak RSS (VmHWM, reset before each run).
#
# Settings (environment):
#   SCALE=200        divide bench/run.sh's full row counts by this
#   QUERY=q3         the query (bench/queries): q3 or typename, both sent by an internal service account
#   CONNS="32 1000"  connection counts, each a run per gateway
#   DURATION=10      seconds per run
#   WARMUP=3         seconds of warm-up per gateway, at 32 connections
#   CLIENTS="now wait"  how refused clients retry, a run each: now (at once, the
#                    harshest) and wait (after Retry-After, as a well-behaved client
#                    does; run only where "now" had refusals)
#   BENCH_VARIANTS="MAX_CONCURRENT_REQUESTS=0;default"   the gateways, as in bench/run.sh
#   BENCH_KEEP, BENCH_DIR, DB_MAX_CONNS, LOG_LEVEL ...   as in bench/run.sh
set -euo pipefail

if [[ "${BENCH_NICE:-1}" != 0 && "$(nice)" -lt 10 ]]; then
	exec nice -n 10 env BENCH_NICE=0 "$0" "$@"
fi

: "${SCALE:=200}" "${DURATION:=10}" "${WARMUP:=3}" # before run.sh sets its own defaults
# shellcheck source=bench/run.sh
source "$(dirname "${BASH_SOURCE[0]}")/run.sh"
QUERY=${QUERY:-q3}
CONNS=${CONNS:-32 1000}
CLIENTS=${CLIENTS:-now wait}
[[ $QUERY == q3 || $QUERY == typename ]] || die "QUERY=$QUERY: q3 or typename (the callers of the others live in bench/run.sh's main)"

# load connections variant seconds [generator flags]: one run of the load
# generator; prints its RESULT line's fields.
load() {
	local out
	out=$(BENCH_AUTH=${AUTH[$QUERY.$2]} "$WORK/overload" -url "${URLS[$2]}/graphql" -body "$WORK/$QUERY.json" \
		-c "$1" -d "${3}s" "${@:4}") || die "the load generator failed"
	grep '^RESULT ' <<<"$out" | sed 's/^RESULT //' || die "the load generator printed no result: $out"
}

overload_main() {
	local tool
	for tool in psql jq curl go; do
		command -v "$tool" >/dev/null || die "$tool is needed (Debian: postgresql-client, jq, curl; Go)"
	done
	prepare
	(cd "$ROOT" && go build -o "$WORK/overload" ./bench/overload)

	IFS=';' read -ra VARIANTS <<<"${BENCH_VARIANTS:-MAX_CONCURRENT_REQUESTS=0;default}"
	PIDS=() URLS=()
	declare -gA AUTH
	body "$QUERY" >"$WORK/$QUERY.json"
	local v c
	for v in "${!VARIANTS[@]}"; do
		start_gateway "$v"
		log "gateway $v (${VARIANTS[$v]}) at ${URLS[$v]} (pid ${PIDS[$v]})"
		AUTH[$QUERY.$v]=$(mint_auth "${URLS[$v]}" internal "" "" "" "")
		check "$QUERY" "$v" "$WORK/$QUERY.json" >/dev/null
	done
	log "warming up ${WARMUP}s per gateway"
	for v in "${!VARIANTS[@]}"; do load 32 "$v" "$WARMUP" >/dev/null; done

	local rows=() clients retry refused
	for c in $CONNS; do
		for v in "${!VARIANTS[@]}"; do
			refused=0
			for clients in $CLIENTS; do
				# waiting after a refusal only matters where there were refusals
				[[ $clients == wait && $refused == 0 && $CLIENTS == *now* ]] && continue
				retry=()
				[[ $clients == wait ]] && retry=(-retry-after)
				log "$c connections, gateway $v (${VARIANTS[$v]}), refused clients retry $clients"
				reset_rss "$v"
				local fields t0 t1
				t0=$(cpu_ticks "${PIDS[$v]}")
				fields=$(load "$c" "$v" "$DURATION" "${retry[@]}")
				t1=$(cpu_ticks "${PIDS[$v]}")
				eval "$fields" # duration_us ok refused other errors ok_p50_us ok_p99_us refused_p50_us refused_p99_us
				rows+=("$(awk -v name="${VARIANTS[$v]}" -v c="$c" -v cl="$clients" -v d="$duration_us" -v ok="$ok" -v ref="$refused" \
					-v other="$other" -v errs="$errors" -v p50="$ok_p50_us" -v p99="$ok_p99_us" -v rp99="$refused_p99_us" \
					-v rss="$(peak_rss "$v")" -v cpu="$((t1 - t0))" -v hz="$CLK_TCK" 'BEGIN {
						n = ok + ref + other
						printf "| %s | %d | %s | %.0f | %.1f%% | %.1f | %.1f | %s | %d | %d | %.2f | %s |", name, c, ref || cl == "wait" ? cl : "-",
							ok / (d / 1e6), n ? 100 * ref / n : 0, p50 / 1000, p99 / 1000, ref ? sprintf("%.1f", rp99 / 1000) : "-",
							other, errs, cpu / hz / (d / 1e6), rss
					}')")
			done
		done
	done

	printf '\nMachine: %s cores (nproc), %s memory, %s\n' "$(nproc)" "$(free -g | awk '/^Mem:/ { print $2 " GB" }')" "$(uname -sr)"
	printf 'Load average (1, 5, 15 min) at the start: %s; at the end: %s\n' "$LOAD0" "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf 'Data: %s (SCALE=%s), seeded in %s\n' "$counts" "$SCALE" "$seed_time"
	printf 'Query: %s; %ss per run; closed loop (bench/overload) on the same cores as the gateway; refused clients retry at once (now) or after Retry-After (wait)\n\n' "$QUERY" "$DURATION"
	printf '| gateway settings | connections | refused retry | admitted req/s | refused (503) | p50 admitted (ms) | p99 admitted (ms) | p99 refusal (ms) | other answers | failed | gateway CPU (cores) | peak RSS (MB) |\n'
	printf '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
	printf '%s\n' "${rows[@]}"
}

overload_main "$@"
