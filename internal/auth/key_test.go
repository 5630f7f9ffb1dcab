package auth

import (
	"crypto/sha256"
	"strings"
	"testing"
)

// The cache's key is the token's SHA-256 whatever its length, across the
// buffer it is hashed through.
func TestTokenKeyIsTheSHA256OfTheToken(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 255, 256, 257, 900, maxTokenBytes} {
		tok := strings.Repeat("e", n/2) + strings.Repeat("y", n-n/2)
		if tokenKey(tok) != sha256.Sum256([]byte(tok)) {
			t.Fatalf("a %d-byte token: the key is not its SHA-256", n)
		}
	}
}
