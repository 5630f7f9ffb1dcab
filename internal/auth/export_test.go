package auth

import (
	"time"

	"github.com/lib/pq"
)

// SetListenerDialer makes v's erasure listener connect through d and retry
// quickly; call it before ListenForErasures.
func SetListenerDialer(v *Verifier, d pq.Dialer) {
	v.listenerTuning = listenerTuning{dialer: d, minReconnect: 20 * time.Millisecond, maxReconnect: 100 * time.Millisecond}
}

// CacheOn reports whether v serves from its sign-in cache.
func CacheOn(v *Verifier) bool {
	v.signedIn.mu.Lock()
	defer v.signedIn.mu.Unlock()
	return v.signedIn.state.live()
}

// CachedTokens is how many tokens v's sign-in cache holds.
func CachedTokens(v *Verifier) int {
	v.signedIn.mu.Lock()
	defer v.signedIn.mu.Unlock()
	return v.signedIn.lru.Len()
}
