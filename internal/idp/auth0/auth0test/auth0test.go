// Package auth0test is a fake of the Auth0 Management API v2 for tests,
// following its documentation: POST /oauth/token (client credentials with
// an audience), GET, PATCH and DELETE /api/v2/users/{id} with a bearer
// token (a DELETE of a user that is not there answers 204, as Auth0's
// does; a GET applies fields and include_fields; a PATCH takes the root
// attributes the API documents and keeps those beyond email and name), Auth0's error body {statusCode, error, message, errorCode}, and
// X-RateLimit-Limit, -Remaining and -Reset on every answer while a rate is
// set (Auth0 sends them on each Management API response), 429 included.
package auth0test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
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

	mu    sync.Mutex
	other map[string]map[string]any // root attributes but email and name, by user id
}

// updatable are the root attributes PATCH /api/v2/users/{id} takes
// (UpdateUserRequestContent of the Management API); anything else is
// refused as an additional property.
var updatable = map[string]bool{
	"blocked": true, "email_verified": true, "email": true, "phone_number": true, "phone_verified": true,
	"user_metadata": true, "app_metadata": true, "given_name": true, "family_name": true, "name": true,
	"nickname": true, "picture": true, "verify_email": true, "verify_phone_number": true, "password": true,
	"connection": true, "client_id": true, "username": true,
}

// writeOnly are the attributes an update takes that a user object never shows.
var writeOnly = map[string]bool{"verify_email": true, "verify_phone_number": true, "password": true, "connection": true, "client_id": true}

func errBody(status int, code, message string) any {
	return map[string]any{"statusCode": status, "error": http.StatusText(status), "message": message, "errorCode": code}
}

// New starts a fake on 127.0.0.1, closed when the test ends.
func New(t testing.TB) *Fake { return start(t, false) }

// NewTLS starts a fake served over https with httptest's certificate
// (Server.Certificate), for clients that only speak https.
func NewTLS(t testing.TB) *Fake { return start(t, true) }

func start(t testing.TB, useTLS bool) *Fake {
	f := &Fake{Core: idptest.NewCore(errBody), other: map[string]map[string]any{}}
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
		idptest.WriteJSON(w, http.StatusOK, project(f.userJSON(u), r.URL.Query()))
	case http.MethodDelete:
		f.Delete(id)
		f.mu.Lock()
		delete(f.other, id)
		f.mu.Unlock()
		done(204)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPatch:
		for k := range body {
			if !updatable[k] {
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
		f.mu.Lock()
		for k, v := range body {
			if k != "email" && k != "name" && !writeOnly[k] {
				if f.other[id] == nil {
					f.other[id] = map[string]any{}
				}
				f.other[id][k] = v
			}
		}
		f.mu.Unlock()
		u, _ = f.Get(id)
		done(200)
		idptest.WriteJSON(w, http.StatusOK, f.userJSON(u))
	default:
		done(405)
		idptest.WriteJSON(w, http.StatusMethodNotAllowed, errBody(405, "method_not_allowed", "Method Not Allowed"))
	}
}

func (f *Fake) userJSON(u idptest.User) map[string]any {
	out := map[string]any{"email_verified": false}
	f.mu.Lock()
	for k, v := range f.other[u.ID] {
		out[k] = v
	}
	f.mu.Unlock()
	out["user_id"], out["email"], out["name"] = u.ID, u.Email, u.FirstName
	return out
}

// project applies GET's fields (comma-separated) and include_fields
// (default true): only the listed attributes, or all but them.
func project(user map[string]any, q url.Values) map[string]any {
	fields := q.Get("fields")
	if fields == "" {
		return user
	}
	listed := map[string]bool{}
	for _, f := range strings.Split(fields, ",") {
		listed[strings.TrimSpace(f)] = true
	}
	include := q.Get("include_fields") != "false"
	out := map[string]any{}
	for k, v := range user {
		if listed[k] == include {
			out[k] = v
		}
	}
	return out
}
