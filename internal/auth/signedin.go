package auth

import (
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/propertyportal/gateway/internal/access"
)

// signedInSize bounds how many verified tokens the cache holds.
const signedInSize = 10_000

// signedIn is what a verified token, keyed by its SHA-256, is taken for
// until the cache forgets it (signedInTTL after it was cached, an erasure
// of its user, a lost erasure listener) or until, its exp passed, the
// verifier would refuse it.
type signedIn struct {
	scope  access.Scope
	until  time.Time // the token's exp plus the adapter's skew, as jwx reckons it
	cached time.Time // when it was cached, on the monotonic clock
}

// signedInCache is the verifier's cache of verified tokens: a bounded LRU,
// an index from user id to the keys of that user's tokens (so an erasure
// drops a user's entries without a scan, whatever the size of the cache),
// and the state of the erasure listener. One mutex guards all of it; a hit
// takes it once, as the LRU's own lock did.
type signedInCache struct {
	mu     sync.Mutex
	lru    *simplelru.LRU[[32]byte, signedIn]
	byUser map[uuid.UUID]map[[32]byte]struct{}
	// gen changes with every erasure notice and every purge. A sign-in
	// caches its scope only if gen is what it was before the sign-in read
	// the directory, so a sign-in that read the user just before an
	// erasure committed cannot put the user back after the erasure's
	// notice dropped them.
	gen   uint64
	state listenerState
}

func newSignedInCache() *signedInCache {
	c := &signedInCache{byUser: map[uuid.UUID]map[[32]byte]struct{}{}}
	c.lru, _ = simplelru.NewLRU[[32]byte, signedIn](signedInSize, c.evicted) // the size is positive: no error
	return c
}

// evicted keeps the index in step with the LRU; the LRU calls it, with
// c.mu held, for every entry it drops.
func (c *signedInCache) evicted(key [32]byte, e signedIn) {
	if e.scope.UserID == uuid.Nil {
		return
	}
	keys := c.byUser[e.scope.UserID]
	delete(keys, key)
	if len(keys) == 0 {
		delete(c.byUser, e.scope.UserID)
	}
}

// get returns the entry of key unless it is older than signedInTTL or the
// cache is off.
func (c *signedInCache) get(key [32]byte) (signedIn, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.state.live() {
		return signedIn{}, false
	}
	e, ok := c.lru.Get(key)
	if ok && time.Since(e.cached) >= signedInTTL {
		c.lru.Remove(key)
		return signedIn{}, false
	}
	return e, ok
}

func (c *signedInCache) remove(key [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(key)
}

// generation is read before a sign-in and handed to add.
func (c *signedInCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// add caches e under key unless the cache is off or an erasure notice or a
// purge came since gen was read.
func (c *signedInCache) add(key [32]byte, e signedIn, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || !c.state.live() {
		return
	}
	e.cached = time.Now()
	if c.lru.Contains(key) {
		c.lru.Remove(key) // one token is one user; re-adding keeps the index exact anyway
	}
	c.lru.Add(key, e)
	if id := e.scope.UserID; id != uuid.Nil {
		keys := c.byUser[id]
		if keys == nil {
			keys = map[[32]byte]struct{}{}
			c.byUser[id] = keys
		}
		keys[key] = struct{}{}
	}
}

// dropUser forgets every token of the user, at the cost of the user's own
// entries, and returns how many there were.
func (c *signedInCache) dropUser(id uuid.UUID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	keys := c.byUser[id]
	delete(c.byUser, id)
	for k := range keys {
		c.lru.Remove(k) // evicted finds no index entry left: fine
	}
	return len(keys)
}

// purge forgets everything.
func (c *signedInCache) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.purgeLocked()
}

func (c *signedInCache) purgeLocked() {
	c.gen++
	c.byUser = map[uuid.UUID]map[[32]byte]struct{}{}
	c.lru, _ = simplelru.NewLRU[[32]byte, signedIn](signedInSize, c.evicted)
}

// listenerState is what the cache knows of the erasure listener.
type listenerState struct {
	// guarded is set once an erasure listener was started: from then on
	// the cache serves and takes entries only while the listener is
	// connected and LISTENing, so no erasure goes unheard. Without a
	// listener (tests, tools) the cache is a plain TTL cache.
	guarded, connected, listening bool
}

func (s listenerState) live() bool { return !s.guarded || (s.connected && s.listening) }

// setState records a change of the listener and purges the cache: turned
// off, it must not keep what it will not hear erasures for; turned on (or
// reconnected), what it held may have missed an erasure meanwhile. Changes
// are rare. It reports whether the cache was and is on.
func (c *signedInCache) setState(change func(*listenerState)) (was, now bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	was = c.state.live()
	change(&c.state)
	c.purgeLocked()
	return was, c.state.live()
}
