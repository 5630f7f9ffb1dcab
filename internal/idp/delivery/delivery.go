// Package delivery is what every IdP's webhook verifier shares
// (internal/idp/<kind>/webhook.go): the errors that classify a refused
// delivery, the time window an event must lie in, and the constant-time
// comparison of secrets.
package delivery

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/propertyportal/gateway/internal/directory"
)

// ErrUnauthorized and ErrBadRequest classify a refused delivery.
var (
	ErrUnauthorized = errors.New("unauthenticated delivery")
	ErrBadRequest   = errors.New("malformed delivery")
)

// ClockSkew is how far in the future an event may be dated, for the IdP's
// clock running ahead of ours.
const ClockSkew = time.Minute

// Equal compares two secrets in constant time, also over their lengths.
func Equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// Within reports whether t lies within window before now and no later than
// now plus ClockSkew. A time further ahead is refused although the window
// would admit it: applied, it would mark the cache as newer than the genuine
// change that follows, which would then be ignored as outdated.
func Within(t, now time.Time, window time.Duration) bool {
	d := now.Sub(t)
	return d <= window && d >= -ClockSkew
}

// Outside marks a change refused for lying outside the time window.
func Outside(c directory.Change) directory.Change {
	return directory.Change{IdPID: c.IdPID, EventID: c.EventID}
}
