package page

import (
	"testing"

	"github.com/google/uuid"
)

var benchCursor = Cursor{List: "users:EMAIL:ASC", Key: "u123456@acme.com", ID: uuid.MustParse("5b0e2a4c-7d1f-4e8a-9c3b-2f6d8e1a0b7c")}

const benchOwner = "admin/5b0e2a4c-7d1f-4e8a-9c3b-2f6d8e1a0b7c/00000000-0000-0000-0000-000000000000"

// BenchmarkCursorSeal is the cost of one edge's cursor: a list page of 100
// makes 100 of them.
func BenchmarkCursorSeal(b *testing.B) {
	s := NewEphemeralSealer()
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Seal(benchCursor, benchOwner)
	}
}

// BenchmarkParseAfter is the cost of reading a client's after cursor.
func BenchmarkParseAfter(b *testing.B) {
	s := NewEphemeralSealer()
	b.ReportAllocs()
	first, after := 50, s.Seal(benchCursor, benchOwner)
	for b.Loop() {
		r, err := s.Parse(Args{First: &first, After: &after}, benchCursor.List, benchOwner, DefaultMax)
		if err != nil || *r.After != benchCursor {
			b.Fatalf("parse: %v %+v", err, r.After)
		}
	}
}
