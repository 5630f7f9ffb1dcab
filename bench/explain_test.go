package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/postgres"
)

// bigTables are the tables that reach millions of rows at scale: a
// sequential scan of one of them in a request is a regression.
var bigTables = map[string]bool{
	"directory.users":         true,
	"comms.contacts":          true,
	"comms.building_contacts": true,
	"bookkeeping.invoices":    true,
}

// TestQueriesUseIndexes runs Q1-Q4 (bench/queries, as bench/run.sh sends
// them) through the gateway's handler on a small seeded database, records
// every statement each one sends, and EXPLAINs each with its own arguments.
// It fails on a sequential scan of users, contacts, building contacts or
// invoices, and on a request that costs more statements than it has
// nesting levels.
//
// The EXPLAIN session sets enable_seqscan = off. On tables a test can seed
// in seconds the planner rightly prefers a sequential scan (a few pages
// read in order beat an index walk), so a plain EXPLAIN would flag every
// statement. With sequential scans priced out, the planner takes any index
// that can serve the statement; a Seq Scan that remains means no index can,
// which is the regression that would cost seconds at 10M invoices. (Whether
// an index that exists is a good choice at scale is what bench/run.sh and
// EXPLAIN ANALYZE on the full data set show.)
func TestQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, q := range f.queries(t) {
		stmts := f.statementsOf(t, q)
		if len(stmts) != q.levels {
			t.Errorf("%s: %d statements, want %d (one per nesting level):\n%s", q.name, len(stmts), q.levels, queriesOf(stmts))
		}
		for _, s := range stmts {
			for _, rel := range seqScans(t, f.db, s) {
				t.Errorf("%s: sequential scan of %s in\n%s", q.name, rel, s.Query)
			}
		}
	}
}

// TestSeqScanDetectorFlagsUnindexedFilter checks the check: a filter no
// index serves is reported, the same filter on an indexed column is not.
func TestSeqScanDetectorFlagsUnindexedFilter(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	unindexed := postgres.Statement{Query: `SELECT contact_id FROM comms.building_contacts WHERE role = $1`, Args: []any{"manager"}}
	if got := seqScans(t, f.db, unindexed); len(got) != 1 || got[0] != "comms.building_contacts" {
		t.Fatalf("unindexed filter: seq scans %v, want [comms.building_contacts]", got)
	}
	indexed := postgres.Statement{Query: `SELECT id FROM bookkeeping.invoices WHERE created_by_user_id = $1`,
		Args: []any{f.admin.UserID.String()}}
	if got := seqScans(t, f.db, indexed); len(got) != 0 {
		t.Fatalf("indexed filter: seq scans %v, want none", got)
	}
}

// TestCreatorDomainFilterWalksItsIndex checks Q3's first level: the newest
// invoices of acme.com creators come from the creator domain index, in its
// order, without reading directory.users. The other indexes can serve the
// statement too (the newest invoices of everyone, each creator probed), so
// TestQueriesUseIndexes alone would not notice that regression, which at
// full scale costs about twenty users_pkey probes per invoice returned.
func TestCreatorDomainFilterWalksItsIndex(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, q := range f.queries(t) {
		if q.name != "Q3" {
			continue
		}
		stmts := f.statementsOf(t, q)
		if len(stmts) == 0 {
			t.Fatal("Q3 sent no statement")
		}
		var indexes, sorts, users int
		var walk func(n planNode)
		walk = func(n planNode) {
			if n.Index == "invoices_creator_domain_issued_idx" {
				indexes++
			}
			if strings.Contains(n.NodeType, "Sort") {
				sorts++
			}
			if n.Schema+"."+n.Relation == "directory.users" {
				users++
			}
			for _, c := range n.Plans {
				walk(c)
			}
		}
		walk(explain(t, f.db, stmts[0]))
		if indexes != 1 || sorts != 0 || users != 0 {
			t.Errorf("Q3's invoices: %d scans of invoices_creator_domain_issued_idx (want 1), %d sorts and %d reads of directory.users (want none) in\n%s",
				indexes, sorts, users, stmts[0].Query)
		}
	}
}

// TestInvoicesByCreatorsWalkTheCreatorIndex checks Q1's last level: each
// creator's newest invoices come from invoices_creator_issued_idx in its
// order, up to the page, not from every invoice of the creator sorted (the
// plan the planner picks when it underestimates a creator's invoices in
// the tenant; see migration 00031).
func TestInvoicesByCreatorsWalkTheCreatorIndex(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, q := range f.queries(t) {
		if q.name != "Q1" {
			continue
		}
		var found bool
		for _, s := range f.statementsOf(t, q) {
			if !strings.Contains(s.Query, "CROSS JOIN LATERAL") {
				continue
			}
			found = true
			var ordered, sorts int
			var walk func(n planNode)
			walk = func(n planNode) {
				if n.Index == "invoices_creator_issued_idx" && strings.HasPrefix(n.NodeType, "Index") {
					ordered++
				}
				if strings.Contains(n.NodeType, "Sort") {
					sorts++
				}
				for _, c := range n.Plans {
					walk(c)
				}
			}
			walk(explain(t, f.db, s))
			if ordered != 1 || sorts != 0 {
				t.Errorf("Q1's invoices: %d ordered scans of invoices_creator_issued_idx (want 1) and %d sorts (want none) in\n%s",
					ordered, sorts, s.Query)
			}
		}
		if !found {
			t.Error("Q1 sent no invoices-by-creators statement")
		}
	}
}

// planNode is the part of EXPLAIN (FORMAT JSON) these tests read.
type planNode struct {
	NodeType string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Schema   string     `json:"Schema"`
	Index    string     `json:"Index Name"`
	Plans    []planNode `json:"Plans"`
}

// seqScans EXPLAINs s with its arguments, sequential scans priced out, and
// returns the big tables the plan still scans sequentially.
func seqScans(t *testing.T, db *sqlx.DB, s postgres.Statement) []string {
	t.Helper()
	var found []string
	var walk func(n planNode)
	walk = func(n planNode) {
		rel := fmt.Sprintf("%s.%s", n.Schema, n.Relation)
		if strings.Contains(n.NodeType, "Seq Scan") && bigTables[rel] {
			found = append(found, rel)
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(explain(t, db, s))
	return found
}

// explain returns the plan of s with its arguments, sequential scans priced
// out (see TestQueriesUseIndexes).
func explain(t *testing.T, db *sqlx.DB, s postgres.Statement) planNode {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var raw []byte
	err = conn.QueryRowxContext(ctx, `SELECT set_config('enable_seqscan', 'off', false)`).Scan(new(string))
	switch {
	case err == nil && s.ForValues: // planned for its values, as EXPLAIN with them plans it
		err = conn.QueryRowxContext(ctx, "EXPLAIN (VERBOSE, FORMAT JSON) "+s.Query, s.Args...).Scan(&raw)
	case err == nil:
		// The plan the gateway's session runs: its statements are
		// prepared, and its sessions plan them generically
		// (postgres.GenericPlans), which EXPLAIN of the statement with its
		// arguments would not show (it plans for the values given).
		_, err = conn.ExecContext(ctx, "PREPARE explained AS "+s.Query)
		defer conn.ExecContext(ctx, "DEALLOCATE explained")
	}
	if err == nil && !s.ForValues {
		// EXECUTE takes no parameters: its arguments go as literals,
		// which PostgreSQL casts to the statement's parameter types.
		ps := make([]string, len(s.Args))
		for i, a := range s.Args {
			ps[i] = literal(t, a)
		}
		err = conn.QueryRowxContext(ctx, "EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE explained("+strings.Join(ps, ", ")+")").Scan(&raw)
	}
	if err != nil {
		t.Fatalf("explain %s: %v", s.Query, err)
	}
	var plans []struct{ Plan planNode }
	if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("explain output %s: %v", raw, err)
	}
	return plans[0].Plan
}

// literal writes a statement argument, as the driver sends it, as an SQL
// literal of unknown type.
func literal(t *testing.T, v any) string {
	t.Helper()
	switch v := v.(type) {
	case nil:
		return "NULL"
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		return strconv.FormatBool(v)
	case time.Time:
		return "'" + v.Format(time.RFC3339Nano) + "'"
	case []byte:
		return "'" + strings.ReplaceAll(string(v), "'", "''") + "'"
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	t.Fatalf("an argument of type %T", v)
	return ""
}

func queriesOf(stmts []postgres.Statement) string {
	var b strings.Builder
	for _, s := range stmts {
		q := strings.Join(strings.Fields(s.Query), " ")
		if len(q) > 160 {
			q = q[:160] + "..."
		}
		fmt.Fprintf(&b, "  %s\n", q)
	}
	return b.String()
}

// TestBackwardPagesUseIndexes runs every list backward (last/before), the
// nested User.invoices too, and EXPLAINs each statement as
// TestQueriesUseIndexes does: no sequential scan of a big table, one
// statement per nesting level, and no sort that the same list read forward
// does not have (a backward page walks the forward page's index the other
// way).
func TestBackwardPagesUseIndexes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	lists := []struct {
		name   string
		levels int
		scope  access.Scope
		q      string // takes $first, $last, $before
	}{
		{"UsersByEmail", 1, f.admin, `users(first: $first, last: $last, before: $before, filter: {emailDomain: "acme.com"}, orderBy: {field: EMAIL}) { edges { node { id email } } pageInfo { startCursor endCursor } }`},
		{"UsersByName", 1, f.admin, `users(first: $first, last: $last, before: $before, orderBy: {field: FULL_NAME, direction: DESC}) { edges { node { id } } pageInfo { startCursor endCursor } }`},
		{"UsersByCreatedAt", 1, f.admin, `users(first: $first, last: $last, before: $before, orderBy: {field: CREATED_AT}) { edges { node { id } } pageInfo { startCursor endCursor } }`},
		{"Buildings", 1, f.admin, `buildings(first: $first, last: $last, before: $before) { edges { node { id } } pageInfo { startCursor endCursor } }`},
		{"Contacts", 1, f.admin, `contacts(first: $first, last: $last, before: $before) { edges { node { id } } pageInfo { startCursor endCursor } }`},
		{"Invoices", 1, f.admin, `invoices(first: $first, last: $last, before: $before) { edges { node { id } } pageInfo { startCursor endCursor } }`},
		{"InvoicesByDomain", 1, f.internal, `invoices(first: $first, last: $last, before: $before, filter: {createdByEmailDomain: "acme.com"}) { edges { node { id } } pageInfo { startCursor endCursor } }`},
		{"UserInvoices", 2, f.admin, `users(first: 50, orderBy: {field: CREATED_AT}) { edges { node { id invoices(first: $first, last: $last, before: $before) { edges { node { id } } } } } pageInfo { startCursor endCursor } }`},
	}
	sorts := func(s postgres.Statement) int {
		n := 0
		var walk func(p planNode)
		walk = func(p planNode) {
			if strings.Contains(p.NodeType, "Sort") {
				n++
			}
			for _, c := range p.Plans {
				walk(c)
			}
		}
		walk(explain(t, f.db, s))
		return n
	}
	for _, l := range lists {
		t.Run(l.name, func(t *testing.T) {
			q := `query($first: Int, $last: Int, $before: String) { ` + l.q + ` }`
			b := func(vars map[string]any) []byte {
				raw, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
				return raw
			}
			raw, _ := f.post(t, l.scope, b(map[string]any{"first": 50}), nil)
			var page struct {
				Data map[string]struct {
					PageInfo struct{ EndCursor string } `json:"pageInfo"`
				} `json:"data"`
			}
			if err := json.Unmarshal(raw, &page); err != nil {
				t.Fatal(err)
			}
			pages := []map[string]any{{"last": 5}} // from the end
			for _, c := range page.Data {
				if c.PageInfo.EndCursor != "" && l.levels == 1 { // and from a cursor
					pages = append(pages, map[string]any{"last": 5, "before": c.PageInfo.EndCursor})
				}
			}
			forward := f.statementsOf(t, query{l.name, l.levels, l.scope, b(map[string]any{"first": 5})})
			for _, vars := range pages {
				backward := f.statementsOf(t, query{l.name, l.levels, l.scope, b(vars)})
				if len(backward) != l.levels || len(forward) != l.levels {
					t.Fatalf("%v: %d statements backward, %d forward, want %d:\n%s", vars, len(backward), len(forward), l.levels, queriesOf(backward))
				}
				for i, s := range backward {
					for _, rel := range seqScans(t, f.db, s) {
						t.Errorf("%v: sequential scan of %s in\n%s", vars, rel, s.Query)
					}
					if b, fw := sorts(s), sorts(forward[i]); b > fw {
						t.Errorf("%v: %d sorts backward, %d forward, in\n%s", vars, b, fw, s.Query)
					}
				}
			}
		})
	}
}

// TestNodesUseIndexes EXPLAINs what nodes sends for ids of every type with
// fields below: the objects of every type (one UNION ALL of primary-key
// lookups) and the levels below, none a sequential scan of a big table.
func TestNodesUseIndexes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var ids []string
	for _, table := range []string{"directory.users", "comms.contacts", "property.buildings", "bookkeeping.invoices"} {
		var got []string
		if err := f.db.Select(&got, `SELECT id::text FROM `+table+` WHERE tenant_id = $1 ORDER BY id LIMIT 25`, f.admin.TenantID); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got...)
	}
	q := `query($ids: [ID!]!) { nodes(ids: $ids) { id
		... on Building { contacts { role contact { id fullName } } }
		... on User { contact { id } invoices(last: 2) { edges { node { number } } } }
		... on Invoice { createdBy { id email } }
		... on Contact { buildings { building { id } } }
	} }`
	body, _ := json.Marshal(map[string]any{"query": q, "variables": map[string]any{"ids": ids}})
	stmts := f.statementsOf(t, query{"nodes", 0, f.admin, body})
	if len(stmts) == 0 || len(stmts) > 7 {
		t.Fatalf("nodes sent %d statements, want 1 to 7:\n%s", len(stmts), queriesOf(stmts))
	}
	if q := stmts[0].Query; strings.Count(q, "UNION ALL") != 3 || !strings.Contains(q, "FROM directory.users") || !strings.Contains(q, "FROM comms.contacts") {
		t.Fatalf("the first statement is not the nodes' one lookup of the four tables:\n%s", q)
	}
	for _, s := range stmts {
		for _, rel := range seqScans(t, f.db, s) {
			t.Errorf("sequential scan of %s in\n%s", rel, s.Query)
		}
	}
}

// TestSearchesArePlannedForTheirValues: a substring search has no plan good
// for every term. A term on half the rows is best found walking the list's
// order index until the page is full; a rare one through the trigram index,
// then sorted. Planned generically, as the gateway's sessions plan the rest,
// every term got one plan (at full scale a search for "com" took 312 ms
// there against 5 ms walking the order index), so a search is planned for
// its values: the two terms get the two plans.
func TestSearchesArePlannedForTheirValues(t *testing.T) {
	f := newFixture(t)
	plan := func(term string) (planNode, postgres.Statement) {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"query": `query($s: String) { users(first: 50, filter: {search: $s}) { edges { node { id } } } }`,
			"variables": map[string]any{"s": term}})
		ctx, log := postgres.WithStatementLog(context.Background())
		f.post(t, f.admin, b, ctx)
		stmts := log.Statements()
		if len(stmts) != 1 {
			t.Fatalf("a search sent %d statements: %s", len(stmts), queriesOf(stmts))
		}
		return explain(t, f.db, stmts[0]), stmts[0]
	}
	sorts := func(n planNode) bool {
		var walk func(n planNode) bool
		walk = func(n planNode) bool {
			if n.NodeType == "Sort" || n.NodeType == "Incremental Sort" {
				return true
			}
			for _, c := range n.Plans {
				if walk(c) {
					return true
				}
			}
			return false
		}
		return walk(n)
	}
	common, s := plan("example") // the .example domains: about half the users
	if !s.ForValues {
		t.Error("a search was planned generically")
	}
	rare, _ := plan("zqxjw")
	if sorts(common) {
		t.Errorf("a term on half the rows sorts them instead of walking the order index: %+v", common)
	}
	if !sorts(rare) {
		t.Errorf("a rare term walks the order index instead of the trigram index: %+v", rare)
	}
}
