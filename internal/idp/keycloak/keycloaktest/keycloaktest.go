// Package keycloaktest is a fake of the Keycloak Admin REST API for tests,
// following its documentation: the realm's token endpoint
// /realms/{realm}/protocol/openid-connect/token (client credentials, form
// encoded), GET, PUT (204) and DELETE /admin/realms/{realm}/users/{id} with
// a bearer token, UserRepresentation bodies (email, firstName, lastName),
// Keycloak's error bodies ({"error": ...} and {"errorMessage": ...}), and a
// proxy's 429 with Retry-After. A PUT replaces the representation as
// Keycloak 24 and later do: email, firstName, lastName and attributes left
// out of the body are cleared (partial updates are no longer supported).
// For invites it serves GET /admin/realms/{realm}/users?email=&exact=, POST
// /admin/realms/{realm}/users (201 with Location; 409 for a username or
// email it holds) and PUT .../users/{id}/execute-actions-email, whose
// emails it records (SentEmails).
package keycloaktest

import (
	"encoding/json"
	"fmt"
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

	mu       sync.Mutex
	attrs    map[string]map[string]any // user attributes by id
	disabled map[string]bool           // users created without enabled: true
	mailDown bool
}

// SetMailDown makes the realm fail to send email, as one without working
// SMTP does: execute-actions-email answers 500.
func (f *Fake) SetMailDown(down bool) { f.mu.Lock(); f.mailDown = down; f.mu.Unlock() }

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
	f := &Fake{Core: idptest.NewCore(errBody), attrs: map[string]map[string]any{}, disabled: map[string]bool{}}
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
	users := "/admin/realms/" + Realm + "/users"
	// Keycloak (RESTEasy) takes the collection with or without a final
	// slash; the official client sends one.
	collection := r.URL.Path == users || r.URL.Path == users+"/"
	if collection && r.Method == http.MethodGet {
		f.search(w, r)
		return
	}
	if collection && r.Method == http.MethodPost {
		f.create(w, r)
		return
	}
	if id, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, users+"/"), "/execute-actions-email"); ok && strings.HasPrefix(r.URL.Path, users+"/") && id != "" && !strings.Contains(id, "/") && r.Method == http.MethodPut {
		f.executeActionsEmail(w, r, id)
		return
	}
	id, ok := strings.CutPrefix(r.URL.Path, users+"/")
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
		idptest.WriteJSON(w, http.StatusOK, f.rep(u))
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
		verified, setVerified := body["emailVerified"].(bool)
		f.Update(id, func(u *idptest.User) {
			u.Email, u.FirstName, u.LastName = or(email), or(first), or(last)
			if setVerified { // left out: unchanged
				u.EmailVerified = verified
			}
		})
		if enabled, ok := body["enabled"].(bool); ok {
			f.mu.Lock()
			f.disabled[id] = !enabled
			f.mu.Unlock()
		}
		attrs, _ := body["attributes"].(map[string]any)
		f.SetAttributes(id, attrs)
		done(204)
		w.WriteHeader(http.StatusNoContent)
	default:
		done(405)
		idptest.WriteJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "HTTP 405 Method Not Allowed"})
	}
}

// rep is u as a UserRepresentation.
func (f *Fake) rep(u idptest.User) map[string]any {
	f.mu.Lock()
	enabled := !f.disabled[u.ID]
	f.mu.Unlock()
	username := u.ID
	if u.Email != "" {
		username = strings.ToLower(u.Email)
	}
	return map[string]any{"id": u.ID, "username": username, "enabled": enabled,
		"email": u.Email, "firstName": u.FirstName, "lastName": u.LastName, "emailVerified": u.EmailVerified,
		"attributes": f.Attributes(u.ID), "access": map[string]bool{"manage": true}}
}

// search answers GET /admin/realms/{realm}/users: with email and
// exact=true the users whose email is that one (Keycloak keeps emails in
// lower case), with email alone those whose email contains it, without
// email every user.
func (f *Fake) search(w http.ResponseWriter, r *http.Request) {
	done, ok := f.Gate(w, r, "", nil)
	if !ok {
		return
	}
	q := r.URL.Query()
	email, exact := strings.ToLower(q.Get("email")), q.Get("exact") == "true"
	out := []map[string]any{}
	for _, u := range f.Users() {
		e := strings.ToLower(u.Email)
		if q.Has("email") && (exact && e != email || !exact && !strings.Contains(e, email)) {
			continue
		}
		out = append(out, f.rep(u))
	}
	done(200)
	idptest.WriteJSON(w, http.StatusOK, out)
}

// create answers POST /admin/realms/{realm}/users with a
// UserRepresentation: username required, username and email kept in lower
// case, 409 when a user has either; 201 with no body and the new user's
// URL in Location. A user made without enabled: true is disabled.
func (f *Fake) create(w http.ResponseWriter, r *http.Request) {
	body, err := idptest.DecodeBody(r)
	if err != nil {
		idptest.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "unknown_error"})
		return
	}
	email, username := idptest.Str(body, "email"), idptest.Str(body, "username")
	key := ""
	if email != nil {
		key = *email
	}
	done, ok := f.GateCreate(w, r, key, body)
	if !ok {
		return
	}
	if username == nil || *username == "" {
		done(400, "")
		idptest.WriteJSON(w, http.StatusBadRequest, map[string]string{"field": "username", "errorMessage": "missingUsernameMessage"})
		return
	}
	if email != nil && !strings.Contains(*email, "@") {
		done(400, "")
		idptest.WriteJSON(w, http.StatusBadRequest, map[string]string{"field": "email", "errorMessage": "invalidEmailMessage"})
		return
	}
	u := idptest.User{}
	if email != nil {
		u.Email = strings.ToLower(*email)
	}
	for _, o := range f.Users() {
		if strings.EqualFold(o.Email, *username) || strings.EqualFold(o.ID, *username) {
			done(409, "")
			idptest.WriteJSON(w, http.StatusConflict, map[string]string{"errorMessage": "User exists with same username"})
			return
		}
	}
	if p := idptest.Str(body, "firstName"); p != nil {
		u.FirstName = *p
	}
	if p := idptest.Str(body, "lastName"); p != nil {
		u.LastName = *p
	}
	u.EmailVerified, _ = body["emailVerified"].(bool)
	made, ok := f.Create(u, func(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012x", n) })
	if !ok {
		done(409, "")
		idptest.WriteJSON(w, http.StatusConflict, map[string]string{"errorMessage": "User exists with same email"})
		return
	}
	enabled, _ := body["enabled"].(bool)
	f.mu.Lock()
	f.disabled[made.ID] = !enabled
	f.mu.Unlock()
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	done(201, made.ID)
	w.Header().Set("Location", scheme+"://"+r.Host+"/admin/realms/"+Realm+"/users/"+made.ID)
	w.WriteHeader(http.StatusCreated)
}

// requiredActions are the actions execute-actions-email takes.
var requiredActions = map[string]bool{"UPDATE_PASSWORD": true, "VERIFY_EMAIL": true, "UPDATE_PROFILE": true,
	"CONFIGURE_TOTP": true, "TERMS_AND_CONDITIONS": true}

// executeActionsEmail answers PUT
// /admin/realms/{realm}/users/{id}/execute-actions-email with a JSON array
// of required actions: 204 once the email is sent (recorded, with the
// actions), 400 for a user without an email or disabled, 500 while the
// mail is down. The call is recorded with Body {"actions": [...]}.
func (f *Fake) executeActionsEmail(w http.ResponseWriter, r *http.Request, id string) {
	var actions []string
	if err := json.NewDecoder(r.Body).Decode(&actions); err != nil {
		idptest.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "unknown_error"})
		return
	}
	done, ok := f.Gate(w, r, id, map[string]any{"actions": actions})
	if !ok {
		return
	}
	u, exists := f.Get(id)
	f.mu.Lock()
	disabled, mailDown := f.disabled[id], f.mailDown
	f.mu.Unlock()
	refuse := func(status int, msg string) {
		done(status)
		idptest.WriteJSON(w, status, map[string]string{"errorMessage": msg})
	}
	switch {
	case !exists:
		done(404)
		idptest.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "User not found"})
		return
	case u.Email == "":
		refuse(400, "User email missing")
		return
	case disabled:
		refuse(400, "User is disabled")
		return
	case mailDown:
		refuse(500, "Failed to send execute actions email")
		return
	}
	for _, a := range actions {
		if !requiredActions[a] {
			refuse(400, "Provided invalid required actions")
			return
		}
	}
	f.RecordSent(idptest.Sent{UserID: id, Email: u.Email, Kind: "execute-actions-email", Actions: actions})
	done(204)
	w.WriteHeader(http.StatusNoContent)
}
