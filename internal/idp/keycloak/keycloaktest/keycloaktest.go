// Package keycloaktest is a fake of the Keycloak Admin REST API for tests,
// following its documentation: the realm's token endpoint
// /realms/{realm}/protocol/openid-connect/token (client credentials, form
// encoded), GET, PUT (204) and DELETE /admin/realms/{realm}/users/{id} with
// a bearer token, UserRepresentation bodies (email, firstName, lastName),
// Keycloak's error bodies ({"error": ...} and {"errorMessage": ...}), and a
// proxy's 429 with Retry-After. A PUT replaces the representation as
// Keycloak 24 and later do: email, firstName, lastName and attributes left
// out of the body are cleared (partial updates are no longer supported).
package keycloaktest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/idptest"
)

// Realm is the realm the fake serves.
const Realm = "portal"

// Fake is a running fake Keycloak.
type Fake struct {
	*idptest.Core
	URL    string
	Server *httptest.Server

	mu    sync.Mutex
	attrs map[string]map[string]any // user attributes by id
}

// SetAttributes gives user id custom attributes, which a PUT without them clears.
func (f *Fake) SetAttributes(id string, attrs map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attrs[id] = attrs
}

// Attributes returns user id's custom attributes.
func (f *Fake) Attributes(id string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attrs[id]
}

func errBody(status int, code, message string) any {
	if status == http.StatusConflict {
		return map[string]string{"errorMessage": message}
	}
	return map[string]string{"error": code, "error_description": message}
}

// New starts a fake on 127.0.0.1, closed when the test ends.
func New(t testing.TB) *Fake { return start(t, false) }

// NewTLS starts a fake served over https with httptest's certificate
// (Server.Certificate), for clients that only speak https.
func NewTLS(t testing.TB) *Fake { return start(t, true) }

func start(t testing.TB, useTLS bool) *Fake {
	f := &Fake{Core: idptest.NewCore(errBody), attrs: map[string]map[string]any{}}
	f.Server = idptest.Serve(t, http.HandlerFunc(f.serve), useTLS)
	f.URL = f.Server.URL
	return f
}

// Config is an admin configuration that reaches this fake.
func (f *Fake) Config() idp.AdminConfig {
	return idp.AdminConfig{BaseURL: f.URL, Realm: Realm, ClientID: f.ClientID, ClientSecret: f.ClientSecret,
		RequestsPerSecond: 20, Timeout: idp.Duration(5 * time.Second)}
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/realms/"+Realm+"/protocol/openid-connect/token" && r.Method == http.MethodPost {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			idptest.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
			return
		}
		f.IssueToken(w, idptest.TokenFields(r))
		return
	}
	id, ok := strings.CutPrefix(r.URL.Path, "/admin/realms/"+Realm+"/users/")
	if !ok || id == "" || strings.Contains(id, "/") {
		idptest.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "RESTEASY003210: Could not find resource"})
		return
	}
	var body map[string]any
	var err error
	if r.Method == http.MethodPut {
		if body, err = idptest.DecodeBody(r); err != nil {
			idptest.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "unknown_error"})
			return
		}
	}
	done, ok := f.Gate(w, r, id, body)
	if !ok {
		return
	}
	u, exists := f.Get(id)
	if !exists {
		done(404)
		idptest.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "User not found"})
		return
	}
	switch r.Method {
	case http.MethodGet:
		done(200)
		idptest.WriteJSON(w, http.StatusOK, map[string]any{"id": u.ID, "username": u.ID, "enabled": true,
			"email": u.Email, "firstName": u.FirstName, "lastName": u.LastName, "emailVerified": false,
			"attributes": f.Attributes(id), "access": map[string]bool{"manage": true}})
	case http.MethodDelete:
		f.Delete(id)
		done(204)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPut:
		email := idptest.Str(body, "email")
		if email != nil && !strings.Contains(*email, "@") {
			done(400)
			idptest.WriteJSON(w, http.StatusBadRequest, map[string]string{"field": "email", "errorMessage": "invalidEmailMessage"})
			return
		}
		if email != nil && f.EmailTaken(id, *email) {
			done(409)
			idptest.WriteJSON(w, http.StatusConflict, map[string]string{"errorMessage": "User exists with same email"})
			return
		}
		first, last := idptest.Str(body, "firstName"), idptest.Str(body, "lastName")
		or := func(p *string) string {
			if p == nil {
				return ""
			}
			return *p
		}
		f.Update(id, func(u *idptest.User) { u.Email, u.FirstName, u.LastName = or(email), or(first), or(last) })
		attrs, _ := body["attributes"].(map[string]any)
		f.SetAttributes(id, attrs)
		done(204)
		w.WriteHeader(http.StatusNoContent)
	default:
		done(405)
		idptest.WriteJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "HTTP 405 Method Not Allowed"})
	}
}
