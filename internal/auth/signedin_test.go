package auth

import (
	"testing"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
)

func keyOf(i int) (k [32]byte) {
	k[0], k[1], k[2] = byte(i), byte(i>>8), byte(i>>16)
	return k
}

func entryOf(user uuid.UUID) signedIn {
	return signedIn{scope: access.Scope{Role: access.RoleProvider, UserID: user}}
}

// A sign-in that read the directory before an erasure notice came does not
// put its scope in the cache after the notice dropped the user's entries.
func TestSignInStartedBeforeAnErasureIsNotCached(t *testing.T) {
	t.Parallel()
	c := newSignedInCache()
	user := uuid.New()
	gen := c.generation() // the sign-in starts
	c.dropUser(user)      // the erasure's notice comes
	c.add(keyOf(1), entryOf(user), gen)
	if _, ok := c.get(keyOf(1)); ok {
		t.Fatal("cached after the erasure notice")
	}
	c.add(keyOf(1), entryOf(user), c.generation()) // a later sign-in (that SyncUser would have refused)
	if _, ok := c.get(keyOf(1)); !ok {
		t.Fatal("the cache takes nothing")
	}
}

// Dropping a user drops their tokens and no others', and the index follows
// the LRU's own evictions, so it never outgrows the cache.
func TestDropUserAndTheIndex(t *testing.T) {
	t.Parallel()
	c := newSignedInCache()
	a, b := uuid.New(), uuid.New()
	for i := range 3 {
		c.add(keyOf(i), entryOf(a), c.generation())
	}
	c.add(keyOf(3), entryOf(b), c.generation())
	c.add(keyOf(4), entryOf(uuid.Nil), c.generation()) // a service account
	if n := c.dropUser(a); n != 3 {
		t.Fatalf("dropped %d tokens, want 3", n)
	}
	for i := range 5 {
		if _, ok := c.get(keyOf(i)); ok != (i >= 3) {
			t.Fatalf("token %d cached: %v", i, ok)
		}
	}
	for i := range signedInSize + 10 {
		c.add(keyOf(10+i), entryOf(uuid.New()), c.generation())
	}
	if c.lru.Len() != signedInSize || len(c.byUser) != signedInSize {
		t.Fatalf("cache %d, index %d, want %d each", c.lru.Len(), len(c.byUser), signedInSize)
	}
	if _, ok := c.byUser[b]; ok {
		t.Fatal("the index keeps an evicted user")
	}
}
