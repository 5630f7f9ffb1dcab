// Package entratest is a fake of Microsoft Graph's user API and the
// Microsoft identity platform's token endpoint for tests, following their
// documentation: POST /{tenant}/oauth2/v2.0/token (client credentials with
// scope https://graph.microsoft.com/.default, a form body only), GET, PATCH
// (204) and DELETE /v1.0/users/{id} with a bearer token, Graph's error body
// {"error": {"code", "message", "innerError"}}, and 429 with Retry-After.
// For invites it serves GET /v1.0/users?$filter=mail eq '...' (with
// $select; externalUserState shows a guest's invitation) and POST
// /v1.0/invitations, which makes a guest PendingAcceptance and records
// the invitation email (SentEmails); 409 for a mail it holds.
package entratest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
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

	mu     sync.Mutex
	guests map[string]bool // users made by an invitation
}

// RedirectURL is the inviteRedirectUrl of Config.
const RedirectURL = "https://portal.example.com/welcome"

// SetGuest makes user id a guest (as an invitation does): unverified it
// is PendingAcceptance, verified Accepted. A user put unverified is shown
// as a guest PendingAcceptance, since a member is always verified.
func (f *Fake) SetGuest(id string, guest bool) { f.mu.Lock(); f.guests[id] = guest; f.mu.Unlock() }

// Accept redeems user id's invitation, as the guest does from the email.
func (f *Fake) Accept(id string) bool {
	return f.Update(id, func(u *idptest.User) { u.EmailVerified = true })
}

// userJSON is u as Graph shows a user, every property the fake knows.
func (f *Fake) userJSON(u idptest.User) map[string]any {
	f.mu.Lock()
	guest := f.guests[u.ID] || !u.EmailVerified
	f.mu.Unlock()
	out := map[string]any{"id": u.ID, "displayName": u.FirstName, "mail": u.Email, "userType": "Member", "externalUserState": nil}
	if guest {
		out["userType"] = "Guest"
		out["externalUserState"] = "PendingAcceptance"
		if u.EmailVerified {
			out["externalUserState"] = "Accepted"
		}
	}
	return out
}

// selectProps applies $select (comma-separated; id is always there).
func selectProps(m map[string]any, sel string) map[string]any {
	if sel == "" {
		return m
	}
	out := map[string]any{"id": m["id"]}
	for _, k := range strings.Split(sel, ",") {
		if v, ok := m[strings.TrimSpace(k)]; ok {
			out[strings.TrimSpace(k)] = v
		}
	}
	return out
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
	f := &Fake{Core: idptest.NewCore(errBody), guests: map[string]bool{}}
	f.Server = idptest.Serve(t, http.HandlerFunc(f.serve), useTLS)
	f.URL = f.Server.URL
	return f
}

// Config is an admin configuration that reaches this fake: Graph at URL and
// the token endpoint at URL/{tenant}/oauth2/v2.0/token.
func (f *Fake) Config() idp.AdminConfig {
	return idp.AdminConfig{BaseURL: f.URL, TokenURL: f.URL + "/" + Tenant + "/oauth2/v2.0/token", TenantID: Tenant,
		ClientID: f.ClientID, ClientSecret: f.ClientSecret, RequestsPerSecond: 10, Timeout: idp.Duration(5 * time.Second),
		InviteRedirectURL: RedirectURL}
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
	switch {
	case r.URL.Path == "/v1.0/users" && r.Method == http.MethodGet:
		f.list(w, r)
		return
	case r.URL.Path == "/v1.0/invitations" && r.Method == http.MethodPost:
		f.invite(w, r)
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
		out := selectProps(f.userJSON(u), r.URL.Query().Get("$select"))
		out["@odata.context"] = "https://graph.microsoft.com/v1.0/$metadata#users/$entity"
		idptest.WriteJSON(w, http.StatusOK, out)
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

// mailEq is the one $filter the fake understands: mail eq 'x', quotes
// in x doubled as OData writes them.
var mailEq = regexp.MustCompile(`^mail eq '((?:[^']|'')*)'$`)

// list answers GET /v1.0/users: with $filter=mail eq '...' the users whose
// mail is that (compared case-insensitively, as Graph does), else every
// user; $select applied; {"value": [...]}.
func (f *Fake) list(w http.ResponseWriter, r *http.Request) {
	done, ok := f.Gate(w, r, "", nil)
	if !ok {
		return
	}
	q := r.URL.Query()
	users := f.Users()
	if filter := q.Get("$filter"); filter != "" {
		m := mailEq.FindStringSubmatch(filter)
		if m == nil {
			done(400)
			idptest.WriteJSON(w, http.StatusBadRequest, errBody(400, "", "Unsupported or invalid query filter clause specified."))
			return
		}
		users = f.FindByEmail(strings.ReplaceAll(m[1], "''", "'"))
	}
	out := []map[string]any{}
	for _, u := range users {
		out = append(out, selectProps(f.userJSON(u), q.Get("$select")))
	}
	done(200)
	idptest.WriteJSON(w, http.StatusOK, map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users", "value": out})
}

// invite answers POST /v1.0/invitations: invitedUserEmailAddress and
// inviteRedirectUrl required; it makes a guest user PendingAcceptance
// (displayName the invitedUserDisplayName, else the email), records the
// invitation email when sendInvitationMessage is true, and answers 201
// with the invitation, invitedUser.id its user.
func (f *Fake) invite(w http.ResponseWriter, r *http.Request) {
	body, err := idptest.DecodeBody(r)
	if err != nil {
		idptest.WriteJSON(w, http.StatusBadRequest, errBody(400, "", "Invalid JSON"))
		return
	}
	email := idptest.Str(body, "invitedUserEmailAddress")
	key := ""
	if email != nil {
		key = *email
	}
	done, ok := f.GateCreate(w, r, key, body)
	if !ok {
		return
	}
	redirect := idptest.Str(body, "inviteRedirectUrl")
	if email == nil || !strings.Contains(*email, "@") {
		done(400, "")
		idptest.WriteJSON(w, http.StatusBadRequest, errBody(400, "", "The invited user email address is invalid."))
		return
	}
	if u, err := url.Parse(derefOr(redirect)); redirect == nil || err != nil || u.Scheme == "" || u.Host == "" {
		done(400, "")
		idptest.WriteJSON(w, http.StatusBadRequest, errBody(400, "", "The invite redirect URL is invalid."))
		return
	}
	name := *email
	if n := idptest.Str(body, "invitedUserDisplayName"); n != nil {
		name = *n
	}
	made, ok := f.Create(idptest.User{Email: *email, FirstName: name},
		func(n int) string { return fmt.Sprintf("11111111-0000-4000-8000-%012x", n) })
	if !ok {
		done(409, "")
		idptest.WriteJSON(w, http.StatusConflict, errBody(409, "", "Another object with the same value for property mail already exists."))
		return
	}
	f.SetGuest(made.ID, true)
	send, _ := body["sendInvitationMessage"].(bool)
	if send {
		f.RecordSent(idptest.Sent{UserID: made.ID, Email: made.Email, Kind: "invitation"})
	}
	done(201, made.ID)
	idptest.WriteJSON(w, http.StatusCreated, map[string]any{
		"@odata.context":  "https://graph.microsoft.com/v1.0/$metadata#invitations/$entity",
		"id":              fmt.Sprintf("22222222-0000-4000-8000-%012x", len(f.SentEmails())),
		"inviteRedeemUrl": "https://login.microsoftonline.com/redeem?rd=fake", "invitedUserDisplayName": name,
		"invitedUserEmailAddress": made.Email, "invitedUserType": "Guest", "sendInvitationMessage": send,
		"inviteRedirectUrl": *redirect, "status": "PendingAcceptance",
		"invitedUser": map[string]any{"id": made.ID},
	})
}

func derefOr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
