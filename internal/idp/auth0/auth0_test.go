package auth0_test

import (
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/auth0"
	"github.com/propertyportal/gateway/internal/idp/auth0/auth0test"
	"github.com/propertyportal/gateway/internal/idp/idptest"
)

func TestAdapter(t *testing.T) {
	f := auth0test.New(t)
	idptest.Conformance(t, f.Core, func(timeout time.Duration) idp.AdminAdapter {
		cfg := f.Config()
		cfg.Timeout = idp.Duration(timeout)
		return auth0.New(cfg, nil)
	})
	t.Run("UserIDWithPipeIsEscaped", func(t *testing.T) {
		f.Put(idptest.User{ID: "auth0|abc123", Email: "a@example.com"})
		p, err := auth0.New(f.Config(), nil).GetUser(t.Context(), "auth0|abc123")
		if err != nil || p.ExternalID != "auth0|abc123" {
			t.Fatalf("got %+v, %v", p, err)
		}
		calls := f.Calls()
		if last := calls[len(calls)-1]; last.Path != "/api/v2/users/auth0|abc123" {
			t.Fatalf("path %q", last.Path)
		}
	})
}
