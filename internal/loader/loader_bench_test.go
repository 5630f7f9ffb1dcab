package loader

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/graph-gophers/dataloader/v7"

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
	fn := one(func(context.Context, []uuid.UUID) ([]*row, error) { return rows, nil }, func(r *row) uuid.UUID { return r.parent })
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res := fn(ctx, keys)
		if res[7].Data.parent != keys[7] {
			b.Fatal("row given to the wrong key")
		}
	}
}

// BenchmarkMany is a to-many batch function realigning 300 rows to 100 keys.
func BenchmarkMany(b *testing.B) {
	keys, rows := benchKeys(100, 3)
	fn := many(func(context.Context, []uuid.UUID) ([]*row, error) { return rows, nil }, func(r *row) uuid.UUID { return r.parent })
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res := fn(ctx, keys)
		if len(res[7].Data) != 3 || res[7].Data[0].parent != keys[7] {
			b.Fatal("rows given to the wrong key")
		}
	}
}

// BenchmarkLoadLevel is one nesting level as a request runs it: 100
// goroutines each Load one key from a fresh loader, which sends them as one
// batch (capacity 100, so no wait) to a to-one batch function.
func BenchmarkLoadLevel(b *testing.B) {
	keys, rows := benchKeys(100, 1)
	fn := one(func(context.Context, []uuid.UUID) ([]*row, error) { return rows, nil }, func(r *row) uuid.UUID { return r.parent })
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		l := dataloader.NewBatchedLoader(fn, dataloader.WithBatchCapacity[uuid.UUID, *row](len(keys)),
			dataloader.WithWait[uuid.UUID, *row](DefaultWait))
		var wg sync.WaitGroup
		for _, k := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r, err := l.Load(ctx, k)(); err != nil || r.parent != k {
					b.Error("wrong row")
				}
			}()
		}
		wg.Wait()
	}
}

// BenchmarkNew is making one request's loaders.
func BenchmarkNew(b *testing.B) {
	s := access.Scope{Role: access.RoleAdmin, TenantID: uuid.New()}
	b.ReportAllocs()
	for b.Loop() {
		if New(Stores{}, s, 0) == nil {
			b.Fatal("no loaders")
		}
	}
}
