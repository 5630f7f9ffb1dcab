package page

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/apperr"
)

func TestSealer(t *testing.T) {
	old, _ := NewSealer(strings.Repeat("o", 32))
	rotated, err := NewSealer(strings.Repeat("n", 32), strings.Repeat("o", 32))
	if err != nil {
		t.Fatal(err)
	}
	c := Cursor{List: "users:EMAIL:ASC", Key: "someone@acme.com", ID: uuid.New()}
	const owner = "admin/t/u"

	t.Run("RoundTrip", func(t *testing.T) {
		got, err := old.Open(old.Seal(c, owner), c.List, owner)
		if err != nil || got != c {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("EachSealDiffers", func(t *testing.T) {
		if a, b := old.Seal(c, owner), old.Seal(c, owner); a == b {
			t.Fatal("two seals of one cursor are equal: the nonce is not fresh")
		}
	})
	t.Run("RotatedKeyStillOpens", func(t *testing.T) {
		if got, err := rotated.Open(old.Seal(c, owner), c.List, owner); err != nil || got != c {
			t.Fatalf("a cursor of the previous key: %+v, %v", got, err)
		}
		if got, err := rotated.Open(rotated.Seal(c, owner), c.List, owner); err != nil || got != c {
			t.Fatalf("a cursor of the new key: %+v, %v", got, err)
		}
	})
	t.Run("RetiredKeyNoLongerOpens", func(t *testing.T) {
		next, _ := NewSealer(strings.Repeat("n", 32))
		if _, err := next.Open(old.Seal(c, owner), c.List, owner); err == nil {
			t.Fatal("a cursor of a key no longer configured opened")
		}
		if _, err := old.Open(rotated.Seal(c, owner), c.List, owner); err == nil {
			t.Fatal("a cursor of an unknown key opened")
		}
	})
	t.Run("BoundToListAndOwner", func(t *testing.T) {
		sealed := old.Seal(c, owner)
		if _, err := old.Open(sealed, "users:FULL_NAME:ASC", owner); err == nil {
			t.Fatal("opened for another list")
		}
		if _, err := old.Open(sealed, c.List, "admin/t/other"); err == nil {
			t.Fatal("opened for another owner")
		}
	})
	t.Run("ShortSecretRefused", func(t *testing.T) {
		if _, err := NewSealer(strings.Repeat("x", 31)); err == nil {
			t.Fatal("a 31-byte secret was accepted")
		}
		if _, err := NewSealer(); err == nil {
			t.Fatal("no secret was accepted")
		}
	})
}

func TestParse(t *testing.T) {
	s, _ := NewSealer(strings.Repeat("o", 32))
	const owner, list = "admin/t/u", "users:EMAIL:ASC"
	c := Cursor{List: list, Key: "k", ID: uuid.New()}
	mine, other := s.Seal(c, owner), s.Seal(Cursor{List: "buildings:NAME:ASC", Key: "k", ID: uuid.New()}, owner)
	n := func(v int) *int { return &v }
	str := func(v string) *string { return &v }
	field := func(t *testing.T, err error) string {
		t.Helper()
		if err == nil {
			t.Fatal("no error")
		}
		var e *apperr.Error
		if !errors.As(err, &e) || e.Kind != apperr.Invalid {
			t.Fatalf("error %v, want Invalid", err)
		}
		return e.Field
	}

	t.Run("DefaultsForward", func(t *testing.T) {
		r, err := s.Parse(Args{}, list, owner, 100)
		if err != nil || r.First != 20 || r.Backward || r.After != nil || r.Before != nil {
			t.Fatalf("got %+v, %v", r, err)
		}
	})
	t.Run("LastBefore", func(t *testing.T) {
		r, err := s.Parse(Args{Last: n(5), Before: &mine}, list, owner, 100)
		if err != nil || r.First != 5 || !r.Backward || r.Before == nil || *r.Before != c || r.After != nil {
			t.Fatalf("got %+v, %v", r, err)
		}
	})
	t.Run("BothCursors", func(t *testing.T) {
		r, err := s.Parse(Args{First: n(5), After: &mine, Before: &mine}, list, owner, 100)
		if err != nil || r.After == nil || r.Before == nil || r.Backward {
			t.Fatalf("got %+v, %v", r, err)
		}
	})
	t.Run("FirstAndLastRefused", func(t *testing.T) {
		_, err := s.Parse(Args{First: n(5), Last: n(5)}, list, owner, 100)
		if f := field(t, err); f != "last" {
			t.Fatalf("field %q, want last", f)
		}
	})
	t.Run("LastOutOfRange", func(t *testing.T) {
		for _, v := range []int{0, -1, 101} {
			if f := field(t, func() error { _, err := s.Parse(Args{Last: n(v)}, list, owner, 100); return err }()); f != "last" {
				t.Fatalf("last %d: field %q", v, f)
			}
		}
	})
	t.Run("BeforeOfAnotherListRefused", func(t *testing.T) {
		_, err := s.Parse(Args{Last: n(5), Before: &other}, list, owner, 100)
		if f := field(t, err); f != "before" {
			t.Fatalf("field %q, want before", f)
		}
		_, err = s.Parse(Args{Before: str("garbage")}, list, owner, 100)
		if f := field(t, err); f != "before" {
			t.Fatalf("field %q, want before", f)
		}
	})
	t.Run("AfterOfAnotherListRefused", func(t *testing.T) {
		_, err := s.Parse(Args{After: &other}, list, owner, 100)
		if f := field(t, err); f != "after" {
			t.Fatalf("field %q, want after", f)
		}
	})
}

func TestTrim(t *testing.T) {
	t.Run("Forward", func(t *testing.T) {
		r := Request{First: 2}
		rows, more := Trim([]int{1, 2, 3}, r)
		if !more || len(rows) != 2 || rows[0] != 1 || rows[1] != 2 {
			t.Fatalf("got %v %v", rows, more)
		}
		if prev, next := r.Sides(more); prev || !next {
			t.Fatalf("sides %v %v", prev, next)
		}
	})
	t.Run("BackwardReversesIntoListOrder", func(t *testing.T) {
		r := Request{First: 2, Backward: true}
		fetched := []int{9, 8, 7} // nearest the end first, as a reversed ORDER BY reads them
		rows, more := Trim(fetched, r)
		if !more || len(rows) != 2 || rows[0] != 8 || rows[1] != 9 {
			t.Fatalf("got %v %v", rows, more)
		}
		if fetched[0] != 9 {
			t.Fatal("Trim changed the rows it was given (a loader's cache)")
		}
		if prev, next := r.Sides(more); !prev || next {
			t.Fatalf("sides %v %v", prev, next)
		}
	})
	t.Run("SidesOfCursors", func(t *testing.T) {
		c := &Cursor{ID: uuid.New()}
		if prev, _ := (Request{First: 2, After: c}).Sides(false); !prev {
			t.Fatal("a page after a cursor has the cursor's item before it")
		}
		if _, next := (Request{First: 2, Before: c, Backward: true}).Sides(false); !next {
			t.Fatal("a page before a cursor has the cursor's item after it")
		}
	})
}
