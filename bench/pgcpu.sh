#!/usr/bin/env bash
# bench/pgcpu.sh: the PostgreSQL CPU a gateway request costs, against the
# same statements prepared (pgbench -M prepared), for Q1-Q4.
#
#   bench/pgcpu.sh                    # about a minute on 2 shared cores
#   N=2 bench/pgcpu.sh                # twice the requests, half the noise
#   GATEWAY=/tmp/gw SQL_DIR=/tmp/sql bench/pgcpu.sh   # another build and its ceiling SQL
#
# It makes its own throwaway PostgreSQL cluster (initdb in a temporary
# directory, unix socket only, autovacuum off so nothing else runs), seeds
# 1/SCALE of bench/run.sh's full data set with `gateway seed`, starts
# `gateway dev -addr 127.0.0.1:0` on it and, query by query:
#   - sends a warm-up, then a fixed number of requests through 4 connections
#     (wrk, bench/pgcpu.lua stops at the count);
#   - runs the same number of transactions of bench/sql/qN_batched.sql (the
#     statements the gateway sends, one per level) with pgbench -M prepared
#     -c 4; pgbench's connection start-up and first executions are left out
#     by subtracting a run of one transaction per client.
# PostgreSQL's CPU is read from /proc: the run time of every live server
# process (schedstat, in ns) plus the user and system time of the children
# the postmaster has reaped (cutime + cstime), so backends that exit are
# counted too. pg_stat_statements (track_planning on) says how many
# statements each side ran and how many of them were planned.
#
# It prints one table: PostgreSQL CPU per request (µs), per pgbench
# transaction, their ratio, statements per request and plans per statement.
# Everything is removed at the end. It runs under `nice -n 10` unless
# BENCH_NICE=0, like bench/run.sh.
#
# Settings (environment):
#   SCALE=100     divide bench/run.sh's full row counts by this (tenants stay 10)
#   N=1           multiply the request counts (Q1 200, Q2 2000, Q3 1000, Q4 4000)
#   GATEWAY=      a gateway binary to measure (default: build this tree)
#   SQL_DIR=      the pgbench scripts (default bench/sql), e.g. those of the
#                 commit GATEWAY was built from, when its schema differs
set -euo pipefail

if [[ "${BENCH_NICE:-1}" != 0 && "$(nice)" -lt 10 ]]; then
	exec nice -n 10 env BENCH_NICE=0 "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
SCALE=${SCALE:-100}
N=${N:-1}
SQL_DIR=${SQL_DIR:-$BENCH/sql}
declare -A COUNT=([q1]=$((200 * N)) [q2]=$((2000 * N)) [q3]=$((1000 * N)) [q4]=$((4000 * N)))
CONNS=4

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in wrk pgbench psql jq curl; do
	command -v "$tool" >/dev/null || die "$tool is needed (Debian: wrk, postgresql-client, jq, curl)"
done

pg_bin() {
	if command -v initdb >/dev/null; then dirname "$(readlink -f "$(command -v initdb)")"; return; fi
	ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1
}

as_pg() {
	if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cleanup() {
	set +e
	[[ -n "${GW_PID:-}" ]] && kill "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null
	if [[ -n "${DIR:-}" ]]; then
		as_pg "$PGBIN/pg_ctl" stop -m fast -w -D "$DIR/data" >/dev/null 2>&1
		rm -rf "$DIR"
	fi
	[[ -n "${WORK:-}" ]] && rm -rf "$WORK"
}

# pg_cpu prints the CPU nanoseconds the cluster has used so far: every live
# server process's run time, and the postmaster's reaped children's.
pg_cpu() {
	local pm hz live reaped pid
	pm=$(head -1 "$DIR/data/postmaster.pid")
	hz=$(getconf CLK_TCK)
	live=$(for pid in "$pm" $(ps -o pid= --ppid "$pm"); do cat "/proc/$pid/schedstat" 2>/dev/null || true; done |
		awk '{ s += $1 } END { printf "%d", s }')
	# /proc/PID/stat after the command name: cutime and cstime are fields 14 and 15.
	reaped=$(sed 's/^.*) //' "/proc/$pm/stat" | awk -v hz="$hz" '{ printf "%d", ($14 + $15) * 1e9 / hz }')
	echo $((live + reaped))
}

# settle waits until the server has as many processes as before a run (the
# backends of a finished client have exited and been reaped).
settle() {
	local want=$1 pm i
	pm=$(head -1 "$DIR/data/postmaster.pid")
	for i in $(seq 1 100); do
		(($(ps -o pid= --ppid "$pm" | wc -l) <= want)) && return
		sleep 0.05
	done
	die "server processes did not settle"
}

now() { date +%s%N; }

children() { ps -o pid= --ppid "$(head -1 "$DIR/data/postmaster.pid")" | wc -l; }

# stats prints "statements plans" run in the portal database since the last
# reset_stats, leaving out pg_stat_statements' own reads and the identity
# workers' polls of their outbox (a transaction each, four times a second
# per worker; the read path opens no transactions).
stats() {
	psql -AtX -F ' ' -c "SELECT coalesce(sum(calls), 0), coalesce(sum(plans), 0) FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'portal') AND query NOT LIKE '%pg_stat_statements%'
		AND query !~ 'identity\.' AND query !~* '^(BEGIN|COMMIT|ROLLBACK)'"
}
reset_stats() { psql -qAtX -c "SELECT pg_stat_statements_reset()" >/dev/null; }

mint_auth() {
	local role=$1 tenant=$2 sub=$3 email=$4
	local args=(-fsS -X POST "$URL/dev-idp/token" --data-urlencode "role=$role")
	if [[ "$role" != internal ]]; then
		args+=(--data-urlencode "tenant=$tenant" --data-urlencode "sub=$sub" --data-urlencode "email=$email")
	fi
	echo "Bearer $(curl "${args[@]}" | jq -er .access_token)"
}

body() { jq -cn --rawfile q "$BENCH/queries/$1.graphql" --argjson v "${2:-{\}}" '{query: $q, variables: $v}'; }

# gateway q count: count requests of query q; prints "requests".
gateway() {
	local q=$1 n=$2 out line
	out=$(BENCH_AUTH=${AUTH[$q]} BENCH_BODIES=${BODIES[$q]} BENCH_REQUESTS=$n \
		wrk -t 1 -c "$CONNS" -d 300s --timeout 10s -s "$BENCH/pgcpu.lua" "$URL/graphql")
	line=$(grep '^RESULT ' <<<"$out") || { echo "$out" >&2; die "wrk stopped before $n answers"; }
	eval "$(sed 's/^RESULT //' <<<"$line")"
	((non2xx == 0)) || die "$q: $non2xx non-2xx answers"
	echo "$requests"
}

# bench q transactions-per-client: one pgbench run of query q's batched SQL.
bench() {
	local q=$1 t=$2 files=()
	if [[ $q == q2 ]]; then
		files=(-f "$SQL_DIR/q2_page1.sql@1" -f "$SQL_DIR/q2_page2.sql@1")
	else
		files=(-f "$SQL_DIR/${q}_batched.sql")
	fi
	pgbench -n -M prepared -c "$CONNS" -j 2 -t "$t" "${PGVARS[@]}" "${files[@]}" portal >"$WORK/pgbench.out" 2>&1 ||
		{ cat "$WORK/pgbench.out" >&2; die "pgbench $q failed"; }
}

main() {
	WORK=$(mktemp -d /tmp/gwpgcpu-work.XXXXXX)
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	if [[ -z "${GATEWAY:-}" ]]; then
		log "building the gateway"
		(cd "$ROOT" && go build -o "$WORK/gateway" ./cmd/gateway)
		GATEWAY=$WORK/gateway
	fi

	log "starting a throwaway PostgreSQL"
	PGBIN=$(pg_bin)
	DIR=$(mktemp -d /tmp/gwpgcpu.XXXXXX)
	[[ $(id -u) == 0 ]] && chown postgres: "$DIR"
	as_pg "$PGBIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
	as_pg "$PGBIN/pg_ctl" start -w -t 120 -D "$DIR/data" -l "$DIR/server.log" -o "-c listen_addresses='' -k $DIR \
		-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c autovacuum=off \
		-c shared_buffers=256MB -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_planning=on" >/dev/null
	export PGHOST=$DIR PGUSER=postgres PGDATABASE=portal
	local url="postgres:///portal?host=$DIR&user=postgres&sslmode=disable"
	psql -qX -d postgres -c "CREATE DATABASE portal" >/dev/null
	psql -qX -c "CREATE EXTENSION pg_stat_statements" >/dev/null

	local args=(-tenants 10 -users $((1000000 / SCALE)) -buildings $((100000 / SCALE))
		-contacts $((500000 / SCALE)) -invoices $((10000000 / SCALE)) -acme-share 0.05)
	log "seeding: ${args[*]}"
	DATABASE_URL=$url "$GATEWAY" seed "${args[@]}" >/dev/null
	psql -qX -c "VACUUM ANALYZE" >/dev/null

	DATABASE_URL=$url "$GATEWAY" dev -addr 127.0.0.1:0 >"$WORK/gateway.out" 2>"$WORK/gateway.log" &
	GW_PID=$!
	local i
	for i in $(seq 1 600); do
		URL=$(sed -n 's/^GraphQL: *\(http[^ ]*\)\/graphql$/\1/p' "$WORK/gateway.out")
		[[ -n "$URL" ]] && break
		kill -0 "$GW_PID" 2>/dev/null || { cat "$WORK/gateway.log" >&2; die "the gateway stopped"; }
		sleep 0.1
	done
	[[ -n "$URL" ]] || die "the gateway did not print its GraphQL address"

	# The callers and keys of bench/run.sh: tenant 1's admin (Q1, Q2), an
	# internal account (Q3), a dev-IdP user of tenant 1 with a contact (Q4).
	local tenant admin q4user admin_id admin_sub admin_email q4_id q4_sub q4_email
	tenant=$(psql -AtX -c "SELECT id FROM directory.tenants WHERE name = 'Bench Tenant 001'")
	admin=$(psql -AtX -F ' ' -c "SELECT u.id, u.external_id, u.email FROM directory.users u
		WHERE u.tenant_id = '$tenant' AND u.idp_id = 'dev' ORDER BY u.created_at, u.id LIMIT 1")
	q4user=$(psql -AtX -F ' ' -c "SELECT u.id, u.external_id, u.email FROM directory.users u
		JOIN comms.contacts c ON c.user_id = u.id
		WHERE u.tenant_id = '$tenant' AND u.idp_id = 'dev' ORDER BY u.created_at DESC, u.id LIMIT 1")
	read -r admin_id admin_sub admin_email <<<"$admin"
	read -r q4_id q4_sub q4_email <<<"$q4user"
	declare -gA AUTH BODIES
	AUTH[q1]=$(mint_auth admin "$tenant" "$admin_sub" "$admin_email")
	AUTH[q2]=${AUTH[q1]}
	AUTH[q3]=$(mint_auth internal "" "" "")
	AUTH[q4]=$(mint_auth provider "$tenant" "$q4_sub" "$q4_email")
	body q1 >"$WORK/q1.json"
	body q2 >"$WORK/q2a.json"
	body q3 >"$WORK/q3.json"
	body q4 >"$WORK/q4.json"
	local cursor
	cursor=$(curl -fsS -H "Content-Type: application/json" -H "Authorization: ${AUTH[q2]}" \
		--data-binary "@$WORK/q2a.json" "$URL/graphql" | jq -er .data.users.pageInfo.endCursor)
	body q2 "$(jq -cn --arg c "$cursor" '{after: $c}')" >"$WORK/q2b.json"
	BODIES=([q1]=$WORK/q1.json [q2]=$WORK/q2a.json:$WORK/q2b.json [q3]=$WORK/q3.json [q4]=$WORK/q4.json)

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
	key=$(psql -AtX -F ' ' -c "SELECT k, id FROM (SELECT coalesce(email, '') AS k, id FROM directory.users
		WHERE tenant_id = '$tenant' AND email_domain = 'acme.com' ORDER BY coalesce(email, ''), id LIMIT 50) AS p
		ORDER BY k DESC, id DESC LIMIT 1")
	PGVARS+=(-D "q2_key=${key% *}" -D "q2_id=${key#* }")

	local q n s c0 c1 c2 c3 t0 t1 t2 t3 st pl idle gw rows=()
	# What the cluster does with no requests (the gateway's background
	# workers poll): subtracted from every run below, by its duration.
	s=$(children)
	reset_stats
	settle "$s"
	t0=$(now) c0=$(pg_cpu)
	sleep 3
	t1=$(now) c1=$(pg_cpu)
	read -r st pl < <(stats)
	((st == 0)) || die "$st statements with no requests: stats() counts more than the requests' statements"
	idle=$(awk -v c="$((c1 - c0))" -v t="$((t1 - t0))" 'BEGIN { printf "%.6f", c / t }') # CPU ns per ns

	for q in q1 q2 q3 q4; do
		n=${COUNT[$q]}
		log "$q: warm-up"
		gateway "$q" $((n / 4 + 20)) >/dev/null
		bench "$q" 20

		log "$q: gateway, $n requests"
		s=$(children)
		reset_stats
		settle "$s"
		t0=$(now) c0=$(pg_cpu)
		n=$(gateway "$q" "$n")
		sleep 0.3 # the requests dropped at the count cancel their statements
		t1=$(now) c1=$(pg_cpu)
		read -r st pl < <(stats)
		gw=$(awk -v idle="$idle" -v c="$((c1 - c0))" -v t="$((t1 - t0))" -v st="$st" -v pl="$pl" -v n="$n" 'BEGIN {
			printf "%.1f %.2f %.2f", (c - idle * t) / n / 1000, st / n, pl / st }')

		log "$q: pgbench -M prepared, $((n / CONNS * CONNS)) transactions"
		s=$(children)
		t0=$(now) c0=$(pg_cpu)
		bench "$q" 1
		settle "$s"
		t1=$(now) c1=$(pg_cpu)
		reset_stats
		settle "$s"
		t2=$(now) c2=$(pg_cpu)
		bench "$q" $((n / CONNS))
		settle "$s"
		t3=$(now) c3=$(pg_cpu)
		read -r st pl < <(stats)
		rows+=("$(awk -v q="$q" -v gw="$gw" -v idle="$idle" -v n="$((n / CONNS * CONNS))" -v k="$CONNS" \
			-v one="$((c1 - c0))" -v tone="$((t1 - t0))" -v all="$((c3 - c2))" -v tall="$((t3 - t2))" -v st="$st" -v pl="$pl" 'BEGIN {
			split(gw, g, " ")
			pg = ((all - idle * tall) - (one - idle * tone)) / (n - k) / 1000
			printf "| %s | %d | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f |", toupper(q), n, g[1], pg, g[1] / pg, g[2], g[3], st / n, pl / st }')")
	done

	printf '\nPostgreSQL %s, %s cores; data: 1/%s of full scale (%s); %s connections each side\n' \
		"$(psql -AtX -c 'SHOW server_version')" "$(nproc)" "$SCALE" "${args[*]}" "$CONNS"
	awk -v idle="$idle" 'BEGIN {
		printf "Idle cluster (the gateway running, no requests), subtracted from every run: %.1f ms of CPU per second\n\n", idle * 1e3 }'
	printf '| query | requests | PG CPU/req gateway (µs) | PG CPU/txn pgbench -M prepared (µs) | ratio | gateway stmts/req | gateway plans/stmt | pgbench stmts/txn | pgbench plans/stmt |\n'
	printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
	printf '%s\n' "${rows[@]}"
}

main "$@"
