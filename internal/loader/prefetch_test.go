package loader

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/graph-gophers/dataloader/v7"
)

// squares is a batch function over ints that records the batches it gets and
// fails the key 13.
type squares struct {
	mu      sync.Mutex
	batches [][]int
}

func (s *squares) batch(_ context.Context, keys []int) []*dataloader.Result[int] {
	s.mu.Lock()
	s.batches = append(s.batches, slices.Clone(keys))
	s.mu.Unlock()
	out := make([]*dataloader.Result[int], len(keys))
	for i, k := range keys {
		if k == 13 {
			out[i] = &dataloader.Result[int]{Error: errors.New("unlucky")}
			continue
		}
		out[i] = &dataloader.Result[int]{Data: k * k}
	}
	return out
}

func TestFetchLoadsALevelInOneBatchAndPrimesTheLoader(t *testing.T) {
	ctx := context.Background()
	s := &squares{}
	l, p := batched(time.Millisecond, "test", s.batch)

	// A key the request already asked for is not asked again.
	if v, err := l.Load(ctx, 2)(); err != nil || v != 4 {
		t.Fatalf("Load(2) = %d, %v", v, err)
	}
	got := p.fetch(ctx, []int{1, 2, 3, 3, 13})
	slices.Sort(got)
	if want := []int{1, 4, 9}; !slices.Equal(got, want) {
		t.Fatalf("fetch = %v, want %v (the failed key left out)", got, want)
	}
	if want := [][]int{{2}, {1, 3, 13}}; !slices.EqualFunc(s.batches, want, slices.Equal[[]int]) {
		t.Fatalf("batches = %v, want %v", s.batches, want)
	}

	// The level is primed: its item resolvers send nothing.
	for _, k := range []int{1, 3} {
		if v, err := l.Load(ctx, k)(); err != nil || v != k*k {
			t.Fatalf("Load(%d) = %d, %v", k, v, err)
		}
	}
	if len(s.batches) != 2 {
		t.Fatalf("primed keys sent another batch: %v", s.batches)
	}

	// A failed key is not cached as a success: its resolver loads it and
	// reports the error.
	if _, err := l.Load(ctx, 13)(); err == nil {
		t.Fatal("Load(13) succeeded")
	}
	if len(s.batches) != 3 {
		t.Fatalf("batches = %v, want the failed key loaded again", s.batches)
	}
}
