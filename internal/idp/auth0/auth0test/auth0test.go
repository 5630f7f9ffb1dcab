// Package auth0test is a fake of the Auth0 Management API v2 for tests,
// following its documentation: POST /oauth/token (client credentials with
// an audience), GET, PATCH and DELETE /api/v2/users/{id} with a bearer
// token (a DELETE of a user that is not there answers 204, as Auth0's
// does), Auth0's error body {statusCode, error, message, errorCode}, and
// X-RateLimit-Limit, -Remaining and -Reset on every answer while a rate is
// set (Auth0 sends them on each Management API response), 429 included.
package auth0test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/idptest"
)

// Fake is a running fake Auth0 tenant.
type Fake struct {
	*idptest.Core
	URL    string
	Server *httptest.Server
}

func errBody(status int, code, message string) any {
	return map[string]any{"statusCode": status, "error": http.StatusText(status), "message": message, "errorCode": code}
}

// New starts a fake on 127.0.0.1, closed when the test ends.
func New(t testing.TB) *Fake { return start(t, false) }

// NewTLS starts a fake served over https with httptest's certificate
// (Server.Certificate), for clients that only speak https.
func NewTLS(t testing.TB) *Fake { return start(t, true) }

func start(t testing.TB, useTLS bool) *Fake {
	f := &Fake{Core: idptest.NewCore(errBody)}
	f.QuotaHeaders = true
	f.Server = idptest.Serve(t, http.HandlerFunc(f.serve), useTLS)
	f.URL = f.Server.URL
	return f
}

// Config is an admin configuration that reaches this fake.
func (f *Fake) Config() idp.AdminConfig {
	return idp.AdminConfig{BaseURL: f.URL, ClientID: f.ClientID, ClientSecret: f.ClientSecret,
		RequestsPerSecond: 2, Timeout: idp.Duration(5 * time.Second)}
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/oauth/token" && r.Method == http.MethodPost {
		fields := idptest.TokenFields(r)
		if fields["audience"] != f.URL+"/api/v2/" {
			idptest.WriteJSON(w, http.StatusForbidden, map[string]string{"error": "access_denied", "error_description": "Service not found"})
			return
		}
		f.IssueToken(w, fields)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/api/v2/users/")
	if !ok || rest == "" || strings.Contains(rest, "/") {
		idptest.WriteJSON(w, http.StatusNotFound, errBody(404, "not_found", "Not Found"))
		return
	}
	id, err := url.PathUnescape(rest)
	if err != nil {
		idptest.WriteJSON(w, http.StatusBadRequest, errBody(400, "invalid_uri", "Invalid request URI"))
		return
	}
	var body map[string]any
	if r.Method == http.MethodPatch {
		if body, err = idptest.DecodeBody(r); err != nil {
			idptest.WriteJSON(w, http.StatusBadRequest, errBody(400, "invalid_body", "Invalid request payload JSON format"))
			return
		}
	}
	done, ok := f.Gate(w, r, id, body)
	if !ok {
		return
	}
	u, exists := f.Get(id)
	if !exists && r.Method == http.MethodDelete {
		// Auth0 answers 204 to the deletion of a user that does not
		// exist: DELETE /api/v2/users/{id} documents no 404.
		done(204)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !exists {
		done(404)
		idptest.WriteJSON(w, http.StatusNotFound, errBody(404, "inexistent_user", "The user does not exist."))
		return
	}
	switch r.Method {
	case http.MethodGet:
		done(200)
		idptest.WriteJSON(w, http.StatusOK, userJSON(u))
	case http.MethodDelete:
		f.Delete(id)
		done(204)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPatch:
		for k := range body {
			if k != "email" && k != "name" && k != "connection" && k != "email_verified" {
				done(400)
				idptest.WriteJSON(w, http.StatusBadRequest, errBody(400, "invalid_body", "Payload validation error: 'Additional properties not allowed'"))
				return
			}
		}
		email, name := idptest.Str(body, "email"), idptest.Str(body, "name")
		if email != nil && (!strings.Contains(*email, "@") || len(*email) > 512) {
			done(400)
			idptest.WriteJSON(w, http.StatusBadRequest, errBody(400, "invalid_body", "Payload validation error: 'Object didn't pass validation for format email'"))
			return
		}
		if email != nil && f.EmailTaken(id, *email) {
			done(409)
			idptest.WriteJSON(w, http.StatusConflict, errBody(409, "auth0_idp_error", "The specified new email already exists"))
			return
		}
		f.Update(id, func(u *idptest.User) {
			if email != nil {
				u.Email = *email
			}
			if name != nil {
				u.FirstName = *name
			}
		})
		u, _ = f.Get(id)
		done(200)
		idptest.WriteJSON(w, http.StatusOK, userJSON(u))
	default:
		done(405)
		idptest.WriteJSON(w, http.StatusMethodNotAllowed, errBody(405, "method_not_allowed", "Method Not Allowed"))
	}
}

func userJSON(u idptest.User) map[string]any {
	return map[string]any{"user_id": u.ID, "email": u.Email, "name": u.FirstName, "email_verified": false}
}
