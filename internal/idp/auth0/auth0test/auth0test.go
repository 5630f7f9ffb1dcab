// Package auth0test is a fake of the Auth0 Management API v2 for tests,
// following its documentation: POST /oauth/token (client credentials with
// an audience), GET, PATCH and DELETE /api/v2/users/{id} with a bearer
// token (a DELETE of a user that is not there answers 204, as Auth0's
// does; a GET applies fields and include_fields; a PATCH takes the root
// attributes the API documents and keeps those beyond email and name), Auth0's error body {statusCode, error, message, errorCode}, and
// X-RateLimit-Limit, -Remaining and -Reset on every answer while a rate is
// set (Auth0 sends them on each Management API response), 429 included.
// For invites it serves GET /api/v2/users-by-email, POST /api/v2/users
// (one database connection, 409 for an email it holds) and the
// Authentication API's POST /dbconnections/change_password, whose emails
// it records (SentEmails).
package auth0test

import (
	"fmt"
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

	// Connection is the one database connection the tenant has; default
	// Username-Password-Authentication.
	Connection string

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
	f := &Fake{Core: idptest.NewCore(errBody), other: map[string]map[string]any{}, Connection: idp.DefaultAuth0Connection}
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
	switch {
	case r.URL.Path == "/api/v2/users-by-email" && r.Method == http.MethodGet:
		f.byEmail(w, r)
		return
	case r.URL.Path == "/api/v2/users" && r.Method == http.MethodPost:
		f.create(w, r)
		return
	case r.URL.Path == "/dbconnections/change_password" && r.Method == http.MethodPost:
		f.changePassword(w, r)
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
		verified, setVerified := body["email_verified"].(bool)
		f.Update(id, func(u *idptest.User) {
			if email != nil && *email != u.Email {
				// A new email is unverified unless the update says otherwise.
				u.Email, u.EmailVerified = *email, false
			}
			if name != nil {
				u.FirstName = *name
			}
			if setVerified {
				u.EmailVerified = verified
			}
		})
		f.mu.Lock()
		for k, v := range body {
			if k != "email" && k != "name" && k != "email_verified" && !writeOnly[k] {
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
	out := map[string]any{}
	f.mu.Lock()
	for k, v := range f.other[u.ID] {
		out[k] = v
	}
	f.mu.Unlock()
	out["user_id"], out["email"], out["name"], out["email_verified"] = u.ID, u.Email, u.FirstName, u.EmailVerified
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

// byEmail answers GET /api/v2/users-by-email?email=...: an array of the
// users with that email (Auth0 compares exactly but keeps its database
// users' emails in lower case; the fake compares case-insensitively),
// fields and include_fields applied.
func (f *Fake) byEmail(w http.ResponseWriter, r *http.Request) {
	done, ok := f.Gate(w, r, "", nil)
	if !ok {
		return
	}
	email := r.URL.Query().Get("email")
	if email == "" {
		done(400)
		idptest.WriteJSON(w, http.StatusBadRequest, errBody(400, "invalid_query_string", "Query validation error: 'Missing required property: email'"))
		return
	}
	out := []map[string]any{}
	for _, u := range f.FindByEmail(email) {
		out = append(out, project(f.userJSON(u), r.URL.Query()))
	}
	done(200)
	idptest.WriteJSON(w, http.StatusOK, out)
}

// creatable are the root attributes POST /api/v2/users takes
// (CreateUserRequestContent).
var creatable = map[string]bool{
	"email": true, "phone_number": true, "user_metadata": true, "blocked": true, "email_verified": true,
	"phone_verified": true, "app_metadata": true, "given_name": true, "family_name": true, "name": true,
	"nickname": true, "picture": true, "user_id": true, "connection": true, "password": true,
	"verify_email": true, "username": true,
}

// create answers POST /api/v2/users for the fake's database connection:
// connection, email and password are required, the email is kept in
// lower case, 409 when the connection holds it; 201 with the user.
// verify_email true records a verification email.
func (f *Fake) create(w http.ResponseWriter, r *http.Request) {
	body, err := idptest.DecodeBody(r)
	if err != nil {
		idptest.WriteJSON(w, http.StatusBadRequest, errBody(400, "invalid_body", "Invalid request payload JSON format"))
		return
	}
	email := idptest.Str(body, "email")
	key := ""
	if email != nil {
		key = *email
	}
	done, ok := f.GateCreate(w, r, key, body)
	if !ok {
		return
	}
	refuse := func(status int, code, msg string) {
		done(status, "")
		idptest.WriteJSON(w, status, errBody(status, code, msg))
	}
	for k := range body {
		if !creatable[k] {
			refuse(400, "invalid_body", "Payload validation error: 'Additional properties not allowed'")
			return
		}
	}
	conn, pw := idptest.Str(body, "connection"), idptest.Str(body, "password")
	switch {
	case conn == nil:
		refuse(400, "invalid_body", "Payload validation error: 'Missing required property: connection'")
		return
	case *conn != f.Connection:
		refuse(400, "invalid_body", "The connection does not exist.")
		return
	case email == nil || !strings.Contains(*email, "@"):
		refuse(400, "invalid_body", "Payload validation error: 'Object didn't pass validation for format email'")
		return
	case pw == nil || *pw == "":
		refuse(400, "invalid_body", "Payload validation error: 'Missing required property: password'")
		return
	case len(*pw) < 8 || len(*pw) > 72:
		refuse(400, "invalid_password", "PasswordStrengthError: Password is too weak")
		return
	}
	u := idptest.User{Email: strings.ToLower(*email)}
	if n := idptest.Str(body, "name"); n != nil {
		u.FirstName = *n
	}
	u.EmailVerified, _ = body["email_verified"].(bool)
	made, ok := f.Create(u, func(n int) string { return fmt.Sprintf("auth0|%024x", n) })
	if !ok {
		refuse(409, "auth0_idp_error", "The user already exists.")
		return
	}
	if v, _ := body["verify_email"].(bool); v {
		f.RecordSent(idptest.Sent{UserID: made.ID, Email: made.Email, Kind: "verification"})
	}
	done(201, made.ID)
	out := f.userJSON(made)
	out["identities"] = []map[string]any{{"connection": f.Connection, "provider": "auth0", "user_id": strings.TrimPrefix(made.ID, "auth0|"), "isSocial": false}}
	idptest.WriteJSON(w, http.StatusCreated, out)
}

// changePassword answers the Authentication API's POST
// /dbconnections/change_password {client_id, email, connection}: no
// bearer token, client_id must be the fake's application; 200 with
// Auth0's sentence whether or not the email is known (it never says),
// and the change-password email recorded when it is.
func (f *Fake) changePassword(w http.ResponseWriter, r *http.Request) {
	body, err := idptest.DecodeBody(r)
	if err != nil {
		idptest.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "Invalid JSON"})
		return
	}
	email := idptest.Str(body, "email")
	var users []idptest.User
	if email != nil {
		users = f.FindByEmail(*email)
	}
	id := ""
	if len(users) > 0 {
		id = users[0].ID
	}
	done, ok := f.GatePublic(w, r, id, body)
	if !ok {
		return
	}
	switch {
	case idptest.Str(body, "client_id") == nil || *idptest.Str(body, "client_id") != f.ClientID:
		done(400)
		idptest.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "Unknown client."})
		return
	case email == nil:
		done(400)
		idptest.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "email is required"})
		return
	case idptest.Str(body, "connection") == nil || *idptest.Str(body, "connection") != f.Connection:
		done(400)
		idptest.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "connection not found"})
		return
	}
	if id != "" {
		f.RecordSent(idptest.Sent{UserID: id, Email: users[0].Email, Kind: "change_password"})
	}
	done(200)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("We've just sent you an email to reset your password."))
}
