package page

import (
	"strings"
	"testing"

	"github.com/google/uuid"
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
