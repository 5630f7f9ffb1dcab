// Package entratest is a fake of Microsoft Graph's user API and the
// Microsoft identity platform's token endpoint for tests, following their
// documentation: POST /{tenant}/oauth2/v2.0/token (client credentials with
// scope https://graph.microsoft.com/.default, a form body only), GET, PATCH
// (204) and DELETE /v1.0/users/{id} with a bearer token, Graph's error body
// {"error": {"code", "message", "innerError"}}, and 429 with Retry-After.
package entratest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/idptest"
)

// Tenant is the directory (tenant) id the fake serves.
const Tenant = "11111111-2222-3333-4444-555555555555"

// Fake is a running fake of Graph and its token endpoint.
type Fake struct {
	*idptest.Core
	URL    string
	Server *httptest.Server
}

func errBody(status int, code, message string) any {
	codes := map[int]string{404: "Request_ResourceNotFound", 400: "Request_BadRequest", 401: "InvalidAuthenticationToken",
		429: "TooManyRequests", 503: "serviceNotAvailable", 409: "Request_MultipleObjectsWithSameKeyValue", 403: "Authorization_RequestDenied"}
	c := codes[status]
	if c == "" {
		c = "generalException"
	}
	return map[string]any{"error": map[string]any{"code": c, "message": message,
		"innerError": map[string]string{"date": time.Now().UTC().Format(time.RFC3339), "request-id": "00000000-0000-0000-0000-000000000000"}}}
}

// New starts a fake on 127.0.0.1, closed when the test ends.
func New(t testing.TB) *Fake { return start(t, false) }

// NewTLS starts a fake served over https with httptest's certificate
// (Server.Certificate), for clients that only speak https.
func NewTLS(t testing.TB) *Fake { return start(t, true) }

func start(t testing.TB, useTLS bool) *Fake {
	f := &Fake{Core: idptest.NewCore(errBody)}
	f.Server = idptest.Serve(t, http.HandlerFunc(f.serve), useTLS)
	f.URL = f.Server.URL
	return f
}

// Config is an admin configuration that reaches this fake: Graph at URL and
// the token endpoint at URL/{tenant}/oauth2/v2.0/token.
func (f *Fake) Config() idp.AdminConfig {
	return idp.AdminConfig{BaseURL: f.URL, TokenURL: f.URL + "/" + Tenant + "/oauth2/v2.0/token", TenantID: Tenant,
		ClientID: f.ClientID, ClientSecret: f.ClientSecret, RequestsPerSecond: 10, Timeout: idp.Duration(5 * time.Second)}
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/"+Tenant+"/oauth2/v2.0/token" && r.Method == http.MethodPost {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			// The identity platform reads a form only: a JSON body has no grant_type.
			idptest.WriteJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_codes": []int{900144}})
			return
		}
		fields := idptest.TokenFields(r)
		if fields["scope"] != "https://graph.microsoft.com/.default" {
			idptest.WriteJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_scope", "error_codes": []int{1002012}})
			return
		}
		f.IssueToken(w, fields)
		return
	}
	id, ok := strings.CutPrefix(r.URL.Path, "/v1.0/users/")
	if !ok || id == "" || strings.Contains(id, "/") {
		idptest.WriteJSON(w, http.StatusBadRequest, errBody(400, "", "Invalid request"))
		return
	}
	var body map[string]any
	var err error
	if r.Method == http.MethodPatch {
		if body, err = idptest.DecodeBody(r); err != nil {
			idptest.WriteJSON(w, http.StatusBadRequest, errBody(400, "", "Invalid JSON"))
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
		idptest.WriteJSON(w, http.StatusNotFound, errBody(404, "", "Resource does not exist or one of its queried reference-property objects are not present."))
		return
	}
	switch r.Method {
	case http.MethodGet:
		done(200)
		idptest.WriteJSON(w, http.StatusOK, map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
			"id": u.ID, "displayName": u.FirstName, "mail": u.Email})
	case http.MethodDelete:
		f.Delete(id)
		done(204)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPatch:
		mail, name := idptest.Str(body, "mail"), idptest.Str(body, "displayName")
		if mail != nil && !strings.Contains(*mail, "@") {
			done(400)
			idptest.WriteJSON(w, http.StatusBadRequest, errBody(400, "", "Invalid value specified for property 'mail' of resource 'User'."))
			return
		}
		if mail != nil && f.EmailTaken(id, *mail) {
			done(409)
			idptest.WriteJSON(w, http.StatusConflict, errBody(409, "", "Another object with the same value for property proxyAddresses already exists."))
			return
		}
		f.Update(id, func(u *idptest.User) {
			if mail != nil {
				u.Email = *mail
			}
			if name != nil {
				u.FirstName = *name
			}
		})
		done(204)
		w.WriteHeader(http.StatusNoContent)
	default:
		done(405)
		idptest.WriteJSON(w, http.StatusMethodNotAllowed, errBody(405, "", "Unsupported method"))
	}
}
