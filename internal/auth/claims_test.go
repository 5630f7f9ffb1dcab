package auth

import (
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/idp"
)

// email_verified is believed only from an adapter that trusts it, and only
// as the boolean true or the string "true".
func TestEmailVerifiedOnlyWhenTrusted(t *testing.T) {
	t.Parallel()
	cfg := idp.Config{ID: "kc", SubjectClaim: "sub", EmailClaim: "email", EmailVerifiedClaim: "email_verified",
		Tenant: "6f1c1f2e-8a57-4d43-a0a7-5b1c3a9e2d10", DefaultRole: access.RoleProvider}
	token := func(t *testing.T, verified any, email bool) jwt.Token {
		t.Helper()
		b := jwt.NewBuilder().Subject("s1")
		if email {
			b = b.Claim("email", "a@acme.com")
		}
		if verified != nil {
			b = b.Claim("email_verified", verified)
		}
		tok, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for name, tc := range map[string]struct {
		trust    bool
		verified any
		email    bool
		want     bool
	}{
		"TrustedTrue":        {true, true, true, true},
		"TrustedStringTrue":  {true, "true", true, true},
		"TrustedFalse":       {true, false, true, false},
		"TrustedStringOther": {true, "TRUE", true, false},
		"TrustedMissing":     {true, nil, true, false},
		"TrustedNoEmail":     {true, true, false, false},
		"UntrustedTrue":      {false, true, true, false},
	} {
		t.Run(name, func(t *testing.T) {
			c := cfg
			c.TrustEmailVerified = tc.trust
			id, why := identityOf(&c, token(t, tc.verified, tc.email))
			if why != "" || id.EmailVerified != tc.want {
				t.Fatalf("EmailVerified = %v (%q), want %v", id.EmailVerified, why, tc.want)
			}
		})
	}
}
