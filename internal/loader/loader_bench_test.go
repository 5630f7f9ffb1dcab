package loader

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
)

type row struct {
	parent uuid.UUID
	n      int
}

// benchKeys returns n keys and, for each, per rows in an order unlike the
// keys' (as a store returns them).
func benchKeys(n, per int) ([]uuid.UUID, []*row) {
	keys := make([]uuid.UUID, n)
	var rows []*row
	for i := range keys {
		keys[i] = uuid.New()
		for j := range per {
			rows = append(rows, &row{parent: keys[i], n: j})
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	return keys, rows
}

// BenchmarkOne is a to-one batch function realigning 100 rows to 100 keys,
// without the store: the Go cost a batch adds to its SQL.
func BenchmarkOne(b *testing.B) {
	keys, rows := benchKeys(100, 1)
	fn := one(func(context.Context, access.Scope, []uuid.UUID) ([]*row, error) { return rows, nil }, func(r *row) uuid.UUID { return r.parent })
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res := fn(ctx, access.Scope{}, keys)
		if res[7].Data.parent != keys[7] {
			b.Fatal("row given to the wrong key")
		}
	}
}

// BenchmarkMany is a to-many batch function realigning 300 rows to 100 keys.
func BenchmarkMany(b *testing.B) {
	keys, rows := benchKeys(100, 3)
	fn := many(func(context.Context, access.Scope, []uuid.UUID) ([]*row, error) { return rows, nil }, func(r *row) uuid.UUID { return r.parent })
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res := fn(ctx, access.Scope{}, keys)
		if len(res[7].Data) != 3 || res[7].Data[0].parent != keys[7] {
			b.Fatal("rows given to the wrong key")
		}
	}
}

// BenchmarkFetchLevel is one nesting level as the planner asks for it: 100
// keys at once, from a fresh loader, through a to-one batch function.
func BenchmarkFetchLevel(b *testing.B) {
	keys, rows := benchKeys(100, 1)
	fn := one(func(context.Context, access.Scope, []uuid.UUID) ([]*row, error) { return rows, nil }, func(r *row) uuid.UUID { return r.parent })
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		got, err := new(level[uuid.UUID, *row]).fetch(ctx, access.Scope{}, keys, relation[uuid.UUID, *row]{"bench", fn})
		if err != nil || len(got) != len(keys) || got[keys[0]].parent != keys[0] {
			b.Fatal("wrong rows")
		}
	}
}

// BenchmarkNew is making one request's loaders, as Middleware does: over
// the relations it made once.
func BenchmarkNew(b *testing.B) {
	s := access.Scope{Role: access.RoleAdmin, TenantID: uuid.New()}
	rel := relationsOf(Stores{})
	b.ReportAllocs()
	for b.Loop() {
		sink = newLoaders(rel, s)
	}
}

var sink *Loaders
