#!/usr/bin/env bash
# bench/run.sh: the gateway under load at scale, against its SQL ceiling.
#
#   bench/run.sh                 # full scale: 1M users, 100k buildings, 500k contacts, 10M invoices
#   SCALE=20 bench/run.sh        # 1/20 of that, for a quick look
#   SCALE=200 DURATION=3 WARMUP=1 ROUNDS=1 bench/run.sh   # the smallest, a check that it runs (~2 min)
#
# It makes its own throwaway PostgreSQL cluster (initdb in a temporary
# directory, unix socket only), fills it with `gateway seed`, starts
# `gateway dev -addr 127.0.0.1:0` on it, mints one credential per caller,
# checks each query's answer once, then measures Q1-Q4 and a request that
# does nothing (typename: `{ __typename }` with a bearer token, through every
# middleware) with wrk after a warm-up, reading the gateway's CPU time
# (utime + stime in /proc/<pid>/stat) around every run, and replays the best
# hand-written SQL of each query with pgbench (-M prepared, 4 clients) in two
# forms: one statement (bench/sql/qN_single.sql) and the batched form a
# dataloader sends (bench/sql/qN_batched.sql, one statement per level with
# = ANY($1)); typename has no SQL and no ceiling. Runs alternate (gateway at
# 32 connections, gateway at 8, pgbench single, pgbench batched, query after
# query, the query order rotating every round) so drift on the shared cores
# hits every side alike. It prints one table; everything is removed at the
# end (BENCH_KEEP=1 keeps the cluster and prints how to reuse it).
#
# The whole script runs under `nice -n 10` (it re-executes itself so) unless
# BENCH_NICE=0: the load generator, PostgreSQL and the gateway share the
# machine's cores with everything else.
#
# Settings (environment):
#   SCALE=1          divide every row count by this (tenants stay 10); at most 200
#   DURATION=10      seconds per measured run
#   WARMUP=5         seconds of warm-up per query (gateway and pgbench) before round 1
#   ROUNDS=3         measured rounds; figures are the mean over rounds
#   WRK_THREADS=2    wrk threads
#   BENCH_DIR=       reuse a cluster kept by BENCH_KEEP=1 (no new seed)
#   BENCH_KEEP=0     keep the cluster directory at the end
#   BENCH_VARIANTS=default   gateways to compare in the same run, alternating:
#                    ';'-separated, each "default" or space-separated settings,
#                    e.g. "default;DB_MAX_CONNS=8" (one table row per query
#                    and variant; pgbench rows are shared). A variant whose
#                    first word is rev=<git revision> runs the gateway built
#                    from that revision, e.g. "default;rev=e81e45a": the code
#                    before and after a change, measured in one run.
#   DB_MAX_CONNS, LOG_LEVEL ... pass through to every gateway.
set -euo pipefail

if [[ "${BENCH_NICE:-1}" != 0 && "$(nice)" -lt 10 ]]; then
	exec nice -n 10 env BENCH_NICE=0 "$0" "$@"
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
SCALE=${SCALE:-1}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-5}
ROUNDS=${ROUNDS:-3}
WRK_THREADS=${WRK_THREADS:-2}
BENCH_KEEP=${BENCH_KEEP:-0}
QUERIES=(q1 q2 q3 q4 typename)
declare -A LEVELS=([q1]=4 [q2]=1 [q3]=2 [q4]=2 [typename]=0) # nesting levels: the statements each should cost
declare -A LABELS=([q1]=Q1 [q2]=Q2 [q3]=Q3 [q4]=Q4 [typename]=typename)
CLK_TCK=$(getconf CLK_TCK)

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- tools ------------------------------------------------------------------

need_tools() {
	local missing=()
	command -v wrk >/dev/null || missing+=(wrk)
	command -v pgbench >/dev/null || missing+=(postgresql-client) # Debian 12: pgbench is in postgresql-client-15
	command -v psql >/dev/null || missing+=(postgresql-client)
	command -v jq >/dev/null || missing+=(jq)
	command -v curl >/dev/null || missing+=(curl)
	if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
		missing+=(postgresql)
	fi
	if ((${#missing[@]})); then
		log "installing ${missing[*]}"
		local sudo=""
		[[ $(id -u) == 0 ]] || sudo=sudo
		$sudo apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
	command -v go >/dev/null || die "Go is needed to build the gateway"
}

pg_bin() {
	if command -v initdb >/dev/null; then dirname "$(readlink -f "$(command -v initdb)")"; return; fi
	ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1
}

# --- the throwaway cluster --------------------------------------------------

# as_pg runs a server binary as the postgres user when we are root (initdb
# and postgres refuse root).
as_pg() {
	if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_cluster() {
	local bin
	bin=$(pg_bin)
	if [[ -n "${BENCH_DIR:-}" ]]; then
		DIR=$BENCH_DIR
		REUSED=1
	else
		DIR=$(mktemp -d /tmp/gwbench.XXXXXX)
		REUSED=0
		[[ $(id -u) == 0 ]] && chown postgres: "$DIR"
		as_pg "$bin/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
	fi
	# A benchmark box, not a durable one: no fsync, no full-page writes, room
	# for the seed's one big transaction. shared_buffers holds the hot indexes.
	as_pg "$bin/pg_ctl" start -w -t 120 -D "$DIR/data" -l "$DIR/server.log" -o "-c listen_addresses='' -k $DIR \
		-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 \
		-c shared_buffers=${PG_SHARED_BUFFERS:-1GB} -c max_wal_size=8GB -c checkpoint_timeout=30min \
		-c wal_level=minimal -c max_wal_senders=0 -c shared_preload_libraries=pg_stat_statements \
		-c pg_stat_statements.track_planning=on" >/dev/null
	PGBIN=$bin
	export PGHOST=$DIR PGUSER=postgres PGDATABASE=portal
	DATABASE_URL="postgres:///portal?host=$DIR&user=postgres&sslmode=disable"
	if ((REUSED == 0)); then
		psql -qX -d postgres -c "CREATE DATABASE portal" >/dev/null
	fi
	psql -qX -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
}

# statements prints how many statements the portal database has run and
# how many times it planned them, as pg_stat_statements counts them (its
# own reads left out).
statements() {
	psql -AtX -F ' ' -c "SELECT coalesce(sum(calls), 0), coalesce(sum(plans), 0) FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'portal') AND query NOT LIKE '%pg_stat_statements%'"
}

cleanup() {
	set +e
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
	if [[ -n "${DIR:-}" ]]; then
		as_pg "$PGBIN/pg_ctl" stop -m fast -w -D "$DIR/data" >/dev/null 2>&1
		if [[ "$BENCH_KEEP" == 1 || -n "${BENCH_DIR:-}" ]]; then
			log "cluster kept: BENCH_DIR=$DIR bench/run.sh reuses it; rm -rf $DIR removes it"
		else
			rm -rf "$DIR"
		fi
	fi
	local wt
	for wt in "${WORK:-/nonexistent}"/src*; do
		[[ -d "$wt" ]] && { git -C "$ROOT" worktree remove --force "$wt" 2>/dev/null || true; }
	done
	[[ -n "${WORK:-}" ]] && rm -rf "$WORK"
}

# --- the gateway ------------------------------------------------------------

# start_gateway v starts gateway number v with the settings of VARIANTS[v]
# (space-separated NAME=value, or "default") and sets PIDS[v] and URLS[v].
start_gateway() {
	local v=$1 settings=() i url bin=$WORK/gateway
	[[ "${VARIANTS[$v]}" == default ]] || read -ra settings <<<"${VARIANTS[$v]}"
	if [[ "${settings[0]:-}" == rev=* ]]; then
		bin=$(build_revision "$v" "${settings[0]#rev=}")
		settings=("${settings[@]:1}")
	fi
	env "${settings[@]}" DATABASE_URL="$DATABASE_URL" "$bin" dev -addr 127.0.0.1:0 \
		>"$WORK/gateway$v.out" 2>"$WORK/gateway$v.log" &
	PIDS[$v]=$!
	for i in $(seq 1 600); do
		url=$(sed -n 's/^GraphQL: *\(http[^ ]*\)\/graphql$/\1/p' "$WORK/gateway$v.out")
		if [[ -n "$url" ]]; then URLS[$v]=$url; return; fi
		kill -0 "${PIDS[$v]}" 2>/dev/null || { cat "$WORK/gateway$v.log" >&2; die "the gateway stopped"; }
		sleep 0.1
	done
	die "the gateway did not print its GraphQL address"
}

# build_revision v rev builds the gateway of git revision rev for gateway
# number v, in a detached worktree of its own, and prints the binary's path.
build_revision() {
	local v=$1 rev=$2 src=$WORK/src$1
	log "building the gateway of $rev"
	git -C "$ROOT" worktree add -q --detach "$src" "$rev" >&2
	(cd "$src" && go build -o "$WORK/gateway$v" ./cmd/gateway) >&2
	echo "$WORK/gateway$v"
}

# mint_auth prints the Authorization header value for a caller of the
# gateway at base URL: role (provider|admin|internal), tenant id, user id
# and the user's dev-IdP subject and email (empty for internal). This is the
# one place that knows how credentials are made; each gateway mints its own
# (a dev IdP's signing key may be per process).
mint_auth() {
	local base=$1 role=$2 tenant=$3 user=$4 sub=$5 email=$6
	local args=(-fsS -X POST "$base/dev-idp/token" --data-urlencode "role=$role")
	if [[ "$role" != internal ]]; then
		args+=(--data-urlencode "tenant=$tenant" --data-urlencode "sub=$sub" --data-urlencode "email=$email")
	fi
	echo "Bearer $(curl "${args[@]}" | jq -er .access_token)"
}

# body writes the JSON body of a GraphQL query file with variables.
body() { jq -cn --rawfile q "$BENCH/queries/$1.graphql" --argjson v "${2:-{\}}" '{query: $q, variables: $v}'; }

# check query variant body sends a body once to gateway number variant and
# prints the SQL statements it cost; it fails on a non-200 answer or any
# GraphQL error.
check() {
	local name=$1 v=$2 file=$3 hdr out n
	hdr=$(mktemp -p "$WORK") out=$(mktemp -p "$WORK")
	curl -sS -o "$out" -D "$hdr" -H "Content-Type: application/json" -H "Authorization: ${AUTH[$name.$v]}" \
		--data-binary "@$file" "${URLS[$v]}/graphql"
	grep -q '^HTTP/[0-9.]* 200' "$hdr" || { cat "$hdr" "$out" >&2; die "$name: not 200"; }
	jq -e '(.errors // []) | length == 0' "$out" >/dev/null || { head -c 2000 "$out" >&2; die "$name: GraphQL errors"; }
	n=$(tr -d '\r' <"$hdr" | sed -n 's/^[Xx]-[Ss][Qq][Ll]-[Ss]tatements: *//p')
	echo "$n"
}

# alone query body: the fewest statements of three requests sent one by one.
alone() {
	local i n best=
	for i in 1 2 3; do
		n=$(check "$1" 0 "$2")
		[[ -z "$best" || "$n" -lt "$best" ]] && best=$n
	done
	echo "$best"
}

# --- measuring --------------------------------------------------------------

# cpu_ticks pid prints the CPU time a process has used, user and system
# (utime + stime, fields 14 and 15 of /proc/<pid>/stat, after the command
# name in parentheses), in clock ticks (CLK_TCK a second).
cpu_ticks() {
	local stat
	stat=$(<"/proc/$1/stat")
	stat=${stat##*) } # fields from the third on: state is field 3
	awk '{ print $12 + $13 }' <<<"$stat"
}

# run_wrk connections query variant [seconds]: one wrk run against gateway
# number variant; appends "gw<c> q v reqs/s p50 p99 statements-per-request
# cpu-ms-per-request" to RESULTS. The statements are counted by PostgreSQL
# over the whole run, so a batch that splits under load shows; the CPU is
# the gateway process's over the run (every goroutine: the GC, the pool,
# the loaders), divided by the requests wrk saw answered.
run_wrk() {
	local c=$1 q=$2 v=$3 dur=${4:-$DURATION} out line reqs s0 s1 t0 t1
	s0=$(statements)
	t0=$(cpu_ticks "${PIDS[$v]}")
	out=$(BENCH_AUTH=${AUTH[$q.$v]} BENCH_BODIES=${BODIES[$q.$v]:-${BODIES[$q]}} \
		wrk -t "$WRK_THREADS" -c "$c" -d "${dur}s" --timeout 10s -s "$BENCH/wrk.lua" "${URLS[$v]}/graphql")
	t1=$(cpu_ticks "${PIDS[$v]}")
	line=$(grep '^RESULT ' <<<"$out") || { echo "$out" >&2; die "wrk printed no result"; }
	eval "$(sed 's/^RESULT //' <<<"$line")" # requests duration_us p50_us p99_us non2xx errors
	if ((non2xx > 0 || errors > 0)); then
		log "warning: $q at $c connections (gateway $v): $non2xx non-2xx answers, $errors socket errors or timeouts"
		echo "$q gateway $v at $c connections: $non2xx non-2xx, $errors socket errors or timeouts" >>"$WORK/failures"
	fi
	s1=$(statements)
	reqs=$(awk -v n="$requests" -v d="$duration_us" 'BEGIN { printf "%.1f", n / (d / 1e6) }')
	echo "gw$c $q $v $reqs $p50_us $p99_us $(awk -v a="${s0% *}" -v b="${s1% *}" -v n="$requests" 'BEGIN { printf "%.2f", n ? (b - a) / n : 0 }') $(
		awk -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.4f", n ? (b - a) / hz * 1000 / n : 0 }') $(
		awk -v a="${s0#* }" -v b="${s1#* }" -v n="$requests" 'BEGIN { printf "%.2f", n ? (b - a) / n : 0 }')" >>"$RESULTS"
}

# run_pgbench form query [seconds]: one pgbench run; appends "<form> q - tps".
# A query without SQL (typename) has no ceiling: nothing is run.
run_pgbench() {
	local form=$1 q=$2 dur=${3:-$DURATION} files=() out tps
	if [[ $q == typename ]]; then
		return
	elif [[ $q == q2 ]]; then
		files=(-f "$BENCH/sql/q2_page1.sql@1" -f "$BENCH/sql/q2_page2.sql@1") # one statement either way
	else
		files=(-f "$BENCH/sql/${q}_${form}.sql")
	fi
	out=$(pgbench -n -M prepared -c 4 -j 2 -T "$dur" "${PGVARS[@]}" "${files[@]}" portal 2>&1) ||
		{ echo "$out" >&2; die "pgbench $q $form failed"; }
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out")
	[[ -n "$tps" ]] || { echo "$out" >&2; die "pgbench printed no tps"; }
	echo "$form $q - $tps" >>"$RESULTS"
}

# start_floor starts bench/floor, the latency floor, and sets FLOOR_URL.
start_floor() {
	local i
	"$WORK/floor" >"$WORK/floor.out" 2>"$WORK/floor.log" &
	PIDS+=($!)
	for i in $(seq 1 100); do
		FLOOR_URL=$(sed -n 's/^floor: *//p' "$WORK/floor.out")
		[[ -n "$FLOOR_URL" ]] && return
		sleep 0.1
	done
	die "bench/floor did not print its address"
}

# run_floor connections: one wrk run against the floor, as run_wrk runs the
# typename query; appends "floor<c> - - reqs/s p50 p99".
run_floor() {
	local c=$1 out line
	out=$(BENCH_AUTH=${AUTH[typename.0]} BENCH_BODIES=${BODIES[typename]} \
		wrk -t "$WRK_THREADS" -c "$c" -d "${DURATION}s" --timeout 10s -s "$BENCH/wrk.lua" "$FLOOR_URL")
	line=$(grep '^RESULT ' <<<"$out") || { echo "$out" >&2; die "wrk printed no result"; }
	eval "$(sed 's/^RESULT //' <<<"$line")"
	echo "floor$c - - $(awk -v n="$requests" -v d="$duration_us" 'BEGIN { printf "%.1f", n / (d / 1e6) }') $p50_us $p99_us" >>"$RESULTS"
}

# reset_rss clears the gateway's peak RSS (VmHWM) so the next reading is
# the peak of what follows; peak_rss prints it in MB.
reset_rss() { echo 5 >"/proc/${PIDS[$1]}/clear_refs" 2>/dev/null || true; }
peak_rss() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/${PIDS[$1]}/status"; }

# --- main -------------------------------------------------------------------

# prepare builds the gateway into a new WORK directory (removed at exit,
# with everything else), starts the throwaway cluster and seeds it at
# 1/SCALE (unless BENCH_DIR reuses one); it sets LOAD0, seed_time and
# counts. bench/overload.sh prepares with it too.
prepare() {
	[[ "$SCALE" =~ ^[1-9][0-9]*$ ]] && ((SCALE <= 200)) ||
		die "SCALE=$SCALE: a whole number from 1 (full scale) to 200 (the smallest: 50 buildings per tenant, as many as Q1 asks for)"
	LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
	WORK=$(mktemp -d /tmp/gwbench-work.XXXXXX)
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	log "building the gateway"
	(cd "$ROOT" && go build -o "$WORK/gateway" ./cmd/gateway && go build -o "$WORK/floor" ./bench/floor)

	log "starting a throwaway PostgreSQL"
	start_cluster
	seed_time="reused"
	if ((REUSED == 0)); then
		local args=(-tenants 10 -users $((1000000 / SCALE)) -buildings $((100000 / SCALE))
			-contacts $((500000 / SCALE)) -invoices $((10000000 / SCALE)) -acme-share 0.05
			-idps auth0-prod,keycloak-default,entra-corp,dev)
		log "seeding: ${args[*]}"
		local t0=$SECONDS
		DATABASE_URL=$DATABASE_URL "$WORK/gateway" seed "${args[@]}" | sed -u 's/^/  seed: /' >&2
		seed_time="$((SECONDS - t0)) s"
		psql -qX -c "VACUUM ANALYZE" >/dev/null # all-visible pages, as a settled database has
	fi
	counts=$(psql -AtX -c "SELECT format('%s users, %s buildings, %s contacts, %s invoices, %s%% acme.com',
		(SELECT count(*) FROM directory.users), (SELECT count(*) FROM property.buildings),
		(SELECT count(*) FROM comms.contacts), (SELECT count(*) FROM bookkeeping.invoices),
		(SELECT round(100.0 * count(*) FILTER (WHERE email_domain = 'acme.com') / count(*), 1) FROM directory.users))")
	log "data: $counts"
}

# start_gateways starts a gateway per variant of BENCH_VARIANTS and the
# floor, mints each query's caller at each gateway (AUTH), writes the
# bodies (BODIES) and checks every answer once; it sets tenant and q4_id
# for the ceiling's keys. bench/profile.sh starts its gateway with it.
start_gateways() {
	IFS=';' read -ra VARIANTS <<<"${BENCH_VARIANTS:-default}"
	PIDS=() URLS=()
	local v
	for v in "${!VARIANTS[@]}"; do
		start_gateway "$v"
		log "gateway $v (${VARIANTS[$v]}) at ${URLS[$v]} (pid ${PIDS[$v]})"
	done
	URL=${URLS[0]}
	start_floor

	# The callers: tenant 1's admin (Q1, Q2), an internal service account
	# (Q3), and a dev-IdP user of tenant 1 who has a contact (Q4).
	local admin q4user
	tenant=$(psql -AtX -c "SELECT id FROM directory.tenants WHERE name = 'Bench Tenant 001'")
	[[ -n "$tenant" ]] || die "no bench tenant: the database was not seeded by gateway seed"
	admin=$(psql -AtX -F ' ' -c "SELECT u.id, u.external_id, u.email FROM directory.users u
		WHERE u.tenant_id = '$tenant' AND u.idp_id = 'dev' ORDER BY u.created_at, u.id LIMIT 1")
	q4user=$(psql -AtX -F ' ' -c "SELECT u.id, u.external_id, u.email FROM directory.users u
		JOIN comms.contacts c ON c.user_id = u.id
		WHERE u.tenant_id = '$tenant' AND u.idp_id = 'dev' ORDER BY u.created_at DESC, u.id LIMIT 1")
	read -r admin_id admin_sub admin_email <<<"$admin"
	read -r q4_id q4_sub q4_email <<<"$q4user"
	declare -gA AUTH BODIES
	for v in "${!VARIANTS[@]}"; do # AUTH[q.v]: query q's caller at gateway v
		AUTH[q1.$v]=$(mint_auth "${URLS[$v]}" admin "$tenant" "$admin_id" "$admin_sub" "$admin_email")
		AUTH[q2.$v]=${AUTH[q1.$v]}
		AUTH[q3.$v]=$(mint_auth "${URLS[$v]}" internal "" "" "" "")
		AUTH[q4.$v]=$(mint_auth "${URLS[$v]}" provider "$tenant" "$q4_id" "$q4_sub" "$q4_email")
		AUTH[typename.$v]=${AUTH[q1.$v]}
	done

	body q1 >"$WORK/q1.json"
	body q2 >"$WORK/q2a.json"
	body q3 >"$WORK/q3.json"
	body q4 >"$WORK/q4.json"
	body typename >"$WORK/typename.json"
	local cursor
	for v in "${!VARIANTS[@]}"; do # a cursor opens only at the gateway (and for the caller) that made it
		cursor=$(curl -sS -H "Content-Type: application/json" -H "Authorization: ${AUTH[q2.$v]}" \
			--data-binary "@$WORK/q2a.json" "${URLS[$v]}/graphql" | jq -er .data.users.pageInfo.endCursor)
		body q2 "$(jq -cn --arg c "$cursor" '{after: $c}')" >"$WORK/q2b.$v.json"
		BODIES[q2.$v]=$WORK/q2a.json:$WORK/q2b.$v.json
	done
	BODIES[q1]=$WORK/q1.json
	BODIES[q3]=$WORK/q3.json
	BODIES[q4]=$WORK/q4.json
	BODIES[typename]=$WORK/typename.json

	# A check that every answer is whole (and costs what it should, below).
	local q
	for v in "${!VARIANTS[@]}"; do
		check q1 "$v" "$WORK/q1.json" >/dev/null
		check q2 "$v" "$WORK/q2a.json" >/dev/null
		check q2 "$v" "$WORK/q2b.$v.json" >/dev/null
		check q3 "$v" "$WORK/q3.json" >/dev/null
		check q4 "$v" "$WORK/q4.json" >/dev/null
		check typename "$v" "$WORK/typename.json" >/dev/null
	done
	[[ $(jq '.data.buildings.edges | length' < <(curl -sS -H "Content-Type: application/json" \
		-H "Authorization: ${AUTH[q1.0]}" --data-binary "@$WORK/q1.json" "$URL/graphql")) == 50 ]] ||
		die "q1 did not return 50 buildings"
}

main() {
	need_tools
	prepare
	start_gateways

	# The keys each level of the batched forms passes on: the same keys the
	# gateway's loaders send for the same query.
	PGVARS=(-D "tenant=$tenant" -D "q4_user=$q4_id" -D "q4_users={$q4_id}")
	PGVARS+=(-D "q1_buildings=$(psql -AtX -c "SELECT array_agg(id) FROM (SELECT id FROM property.buildings
		WHERE tenant_id = '$tenant' ORDER BY name, id LIMIT 50) b")")
	PGVARS+=(-D "q1_users=$(psql -AtX -c "SELECT coalesce(array_agg(DISTINCT c.user_id), '{}') FROM comms.building_contacts bc
		JOIN comms.contacts c ON c.id = bc.contact_id WHERE bc.building_id IN (SELECT id FROM property.buildings
		WHERE tenant_id = '$tenant' ORDER BY name, id LIMIT 50) AND c.user_id IS NOT NULL")")
	PGVARS+=(-D "q3_users=$(psql -AtX -c "SELECT coalesce(array_agg(DISTINCT created_by_user_id), '{}') FROM (
		SELECT i.created_by_user_id FROM bookkeeping.invoices i JOIN directory.users u ON u.id = i.created_by_user_id
		WHERE u.email_domain = 'acme.com' ORDER BY i.issued_at DESC, i.id DESC LIMIT 100) x")")
	local key
	# The second page starts after the last row of the first (its endCursor).
	key=$(psql -AtX -F ' ' -c "SELECT k, id FROM (SELECT coalesce(email, '') AS k, id FROM directory.users
		WHERE tenant_id = '$tenant' AND email_domain = 'acme.com' ORDER BY coalesce(email, ''), id LIMIT 50) AS p
		ORDER BY k DESC, id DESC LIMIT 1")
	PGVARS+=(-D "q2_key=${key% *}" -D "q2_id=${key#* }")

	RESULTS=$WORK/results
	: >"$RESULTS"
	log "warming up ${WARMUP}s per query"
	for q in "${QUERIES[@]}"; do
		for v in "${!VARIANTS[@]}"; do run_wrk 32 "$q" "$v" "$WARMUP"; done
		run_pgbench single "$q" "$WARMUP"
		run_pgbench batched "$q" "$WARMUP"
	done
	: >"$RESULTS"

	# The statements a request costs alone (after the warm-up, the fewest of
	# three requests): what the design gives when batches are not split.
	declare -A STMTS
	STMTS[q1]=$(alone q1 "$WORK/q1.json")
	STMTS[q2]="$(alone q2 "$WORK/q2a.json")/$(alone q2 "$WORK/q2b.0.json")"
	STMTS[q3]=$(alone q3 "$WORK/q3.json")
	STMTS[q4]=$(alone q4 "$WORK/q4.json")
	STMTS[typename]=$(alone typename "$WORK/typename.json")

	declare -A RSS
	local r i
	for ((r = 0; r < ROUNDS; r++)); do
		for ((i = 0; i < ${#QUERIES[@]}; i++)); do
			q=${QUERIES[$(((i + r) % ${#QUERIES[@]}))]}
			log "round $((r + 1))/$ROUNDS $q"
			for v in "${!VARIANTS[@]}"; do
				reset_rss "$v"
				run_wrk 32 "$q" "$v"
				run_wrk 8 "$q" "$v"
				local mb
				mb=$(peak_rss "$v")
				((mb > ${RSS[$q.$v]:-0})) && RSS[$q.$v]=$mb
			done
			run_pgbench single "$q"
			run_pgbench batched "$q"
		done
		log "round $((r + 1))/$ROUNDS floor"
		run_floor 32
		run_floor 8
	done
	local gw_errors
	# wrk drops its connections when a run ends: the requests in flight then
	# fail with "context canceled" or a cancelled statement (57014), which
	# are not errors of the gateway.
	gw_errors=$(cat "$WORK"/gateway*.log | grep '"level":"ERROR"' | grep -v 'context canceled' | grep -vc '(57014)' || true)

	local pgver
	pgver=$(psql -AtX -c "SHOW server_version")
	printf '\nMachine: %s cores (nproc), %s memory, PostgreSQL %s, %s\n' "$(nproc)" \
		"$(free -g | awk '/^Mem:/ { print $2 " GB" }')" "$pgver" "$(uname -sr)"
	printf 'Load average (1, 5, 15 min) at the start: %s; at the end: %s\n' "$LOAD0" "$(cut -d' ' -f1-3 /proc/loadavg)"
	[[ -s "$WORK/failures" ]] && { echo "Failed requests:"; cat "$WORK/failures"; }
	printf 'Data: %s (SCALE=%s), seeded in %s\n' "$counts" "$SCALE" "$seed_time"
	printf 'Runs: %s rounds of %ss per measurement, alternating; wrk -t%s; pgbench -M prepared -c 4 -j 2; gateway settings: %s\n\n' \
		"$ROUNDS" "$DURATION" "$WRK_THREADS" "${BENCH_VARIANTS:-default}"
	printf '| query | req/s @32 | gateway CPU (ms/req) @32 | p50 @8 (ms) | p99 @8 (ms) | p99/p50 | SQL stmts/req: alone (levels) | under load @32 | planned/req @32 | peak RSS (MB) | pgbench single tps | pgbench batched tps | share of single | share of batched |\n'
	printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
	local label
	for q in "${QUERIES[@]}"; do
		for v in "${!VARIANTS[@]}"; do
			label=${LABELS[$q]}
			((${#VARIANTS[@]} == 1)) || label="$label ${VARIANTS[$v]}"
			awk -v q="$q" -v v="$v" -v label="$label" -v stmts="${STMTS[$q]} (${LEVELS[$q]})" -v rss="${RSS[$q.$v]}" '
				$2 == q && $1 == "gw32" && $3 == v { r32 += $4; st += $7; cpu += $8; pl += $9; n32++ }
				$2 == q && $1 == "gw8" && $3 == v { p50 += $5; p99 += $6; n8++ }
				$2 == q && $1 == "single" { s += $4; ns++ }
				$2 == q && $1 == "batched" { b += $4; nb++ }
				END {
					r32 /= n32; st /= n32; cpu /= n32; pl /= n32; p50 /= n8 * 1000; p99 /= n8 * 1000
					ceiling = "| - | - | - | - |" # no SQL, no ceiling
					if (ns && nb) {
						s /= ns; b /= nb
						ceiling = sprintf("| %.0f | %.0f | %.0f%% | %.0f%% |", s, b, 100 * r32 / s, 100 * r32 / b)
					}
					printf "| %s | %.0f | %.3f | %.2f | %.2f | %.1f | %s | %.2f | %.2f | %s %s\n",
						label, r32, cpu, p50, p99, p99 / p50, stmts, st, pl, rss, ceiling
				}' "$RESULTS"
		done
	done
	awk '$1 == "floor32" { r += $4; n32++ } $1 == "floor8" { p50 += $5; p99 += $6; n8++ }
		END { if (n32 && n8) printf "\nFloor (bench/floor: net/http answering { __typename } from memory, the same wrk runs): req/s @32 %.0f, p50 @8 %.2f ms, p99 @8 %.2f ms, p99/p50 %.1f\n",
			r / n32, p50 / n8 / 1000, p99 / n8 / 1000, p99 / p50 }' "$RESULTS"
	local all=0 k
	for k in "${!RSS[@]}"; do ((RSS[$k] > all)) && all=${RSS[$k]}; done
	printf '\nGateway peak RSS over the whole load: %s MB; errors logged by the gateway: %s\n' "$all" "$gw_errors"
	if ((gw_errors > 0)); then # the messages are safe to print: the gateway logs no PII
		cat "$WORK"/gateway*.log | grep '"level":"ERROR"' | grep -v 'context canceled' | grep -v '(57014)' | jq -r '.error // .msg' |
			sed 's/^input:[0-9:]* [^ ]* //' | sort | uniq -c | sort -rn | head -5
	fi
	if [[ -n "${BENCH_RAW:-}" ]]; then cp "$RESULTS" "$BENCH_RAW"; fi
}

# Sourced (bench/overload.sh), it only defines its functions.
[[ "${BASH_SOURCE[0]}" != "$0" ]] || main "$@"
