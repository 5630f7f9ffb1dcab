package logging

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// plain lets a string skip the patterns: it must never do so for one the
// patterns would change.
func TestPlainSkipsOnlyWhatThePatternsKeep(t *testing.T) {
	t.Parallel()
	check := func(s string) {
		t.Helper()
		if plain(s) && byPatterns(s) != s {
			t.Fatalf("plain(%q) but the patterns give %q", s, byPatterns(s))
		}
	}
	for _, s := range []string{
		"jane@example.com", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "Bearer abcdefgh.ijkl", "bAsIc dXNlcjpwYXNz",
		"TOKEN abcdefghij", "to\u212Aen abcdefghij", "ba\u017Fic abcdefghij", "+49 30 1234567", "(030) 123-4567", "1234567",
		"12.34.56.7", "call 0 1 2 3 4 5 6", "ext-1234567", "a1234567b", "\t1\n2\f3\r4 5.6-7",
		"a" + strings.Repeat("1", 31), strings.Repeat("1", 31) + "a", "x--1234567", "x_1234567", "+1234567a", "a1234567(",
	} {
		check(s)
	}
	// Strings made of the characters the patterns turn on, and long runs of
	// digits among letters and separators (ids, and phone numbers glued to them).
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		alphabet string
		max      int
	}{
		{"0123456789 \t\n().-+@eyJaBbEeRrAaSsIiCcTtOoKkNnx_/|:\u212A\u017F", 24},
		{"01234567890123456789012345678901234567890123456789abcdef_.-+( |:", 80},
	} {
		runes := []rune(c.alphabet)
		for range 200_000 {
			var b strings.Builder
			for range 1 + rng.IntN(c.max) {
				b.WriteRune(runes[rng.IntN(len(runes))])
			}
			check(b.String())
		}
	}
}

// What an access log line holds skips the patterns.
func TestPlainTakesIDsRoutesAndCodes(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"request", "8af3c19e20b1d7aa", "8af3c1934520917a", "POST", "/graphql",
		"GET /healthz", "unmatched", "signature", "sign_in_refused", "BAD_USER_INPUT"} {
		if !plain(s) {
			t.Errorf("plain(%q) = false", s)
		}
	}
}

func TestKeyKindFoldsCaseAndSeparators(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]string{
		"email": RedactedEmail, "E-Mail": RedactedEmail, "contact.email": RedactedEmail, "Phone_Number": RedactedPhone, "X-Api-Key": RedactedSecret,
		"Authorization": RedactedToken, "full_name": RedactedName, "fullName": RedactedName, "Given Name": RedactedName, "request_id": "", "route": "",
		"status": "", strings.Repeat("x", 40) + "_token": RedactedToken, "nämé": "", "EMAIL_ADDRESS": RedactedEmail,
	} {
		if got := keyKind(key); got != want {
			t.Errorf("keyKind(%q) = %q, want %q", key, got, want)
		}
	}
}
