// Package devtest serves a dev issuer on loopback for tests: an OpenID
// provider with real keys, discovery and JWKS over HTTP, standing in for an
// external IdP. Only tests import it.
package devtest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/propertyportal/gateway/internal/idp/dev"
)

// Issuer starts an issuer on a loopback server that lives as long as t.
// Every request also goes to observe, when it is not nil.
func Issuer(t testing.TB, observe func(*http.Request)) *dev.Issuer {
	t.Helper()
	var iss *dev.Issuer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if observe != nil {
			observe(r)
		}
		iss.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	iss, err := dev.NewIssuer(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}
