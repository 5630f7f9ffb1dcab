// Package auth0 is everything the gateway knows of Auth0: its claim
// defaults (DefaultClaims), the admin adapter for the Management API v2 (New: it
// changes, reads and deletes users with a client-credentials token, cached
// until it expires, and classifies Auth0's answers, 429 with
// X-RateLimit-Reset included; it also finds users by email and invites
// them through Auth0's password-reset email) and the verifier of its log stream's
// deliveries (webhook.go). It never logs or returns PII in errors.
package auth0

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/propertyportal/gateway/internal/idp"
)

// DefaultClaims are the claims of Auth0 tokens: roles come from the namespaced
// claim an Action sets, which has no default.
var DefaultClaims = idp.ClaimDefaults{Subject: "sub",
	RolesRequired: "required for auth0: the namespaced claim your Action sets, e.g. https://portal.example.com/roles"}

// Adapter calls one Auth0 tenant's Management API.
type Adapter struct {
	base       string
	clientID   string // the application whose id the Authentication API's change_password takes
	connection string // the database connection invited users are made in
	client     *idp.AdminClient
}

// New makes an adapter from cfg (normalised); hc may be nil.
func New(cfg idp.AdminConfig, hc *http.Client) *Adapter {
	base := strings.TrimRight(cfg.BaseURL, "/")
	tokenURL := cfg.TokenURL
	if tokenURL == "" {
		tokenURL = base + "/oauth/token"
	}
	audience := cfg.Audience
	if audience == "" {
		audience = base + "/api/v2/"
	}
	cc := clientcredentials.Config{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: tokenURL,
		EndpointParams: url.Values{"audience": {audience}},
		AuthStyle:      oauth2.AuthStyleInParams,
	}
	c := idp.NewAdminClient(cc, time.Duration(cfg.Timeout), hc)
	c.ErrorCode = errorCode
	connection := cfg.Connection
	if connection == "" {
		connection = idp.DefaultAuth0Connection
	}
	return &Adapter{base: base, clientID: cfg.ClientID, connection: connection, client: c}
}

// user is the part of Auth0's user object the gateway reads.
type user struct {
	UserID        string  `json:"user_id"`
	Email         *string `json:"email"`
	Name          *string `json:"name"`
	EmailVerified bool    `json:"email_verified"`
}

func (u user) profile() *idp.Profile {
	return &idp.Profile{ExternalID: u.UserID, Email: u.Email, FullName: u.Name, EmailVerified: u.EmailVerified}
}

// fields are the attributes the adapter reads (GET's fields with include_fields=true).
const fields = "fields=user_id,email,name,email_verified&include_fields=true"

// errorCode reads Auth0's error shape: {"statusCode","error","message","errorCode"}.
func errorCode(b []byte) string {
	var e struct {
		ErrorCode string `json:"errorCode"`
	}
	if json.Unmarshal(b, &e) != nil || len(e.ErrorCode) > 64 {
		return ""
	}
	return e.ErrorCode
}

func (a *Adapter) userURL(id string) string {
	return a.base + "/api/v2/users/" + url.PathEscape(id)
}

// UpdateUser sends PATCH /api/v2/users/{id} with email and name.
func (a *Adapter) UpdateUser(ctx context.Context, externalID string, u idp.ProfileUpdate) (*idp.Profile, error) {
	body := map[string]any{}
	if u.Email != nil {
		body["email"] = *u.Email
	}
	if u.FullName != nil {
		body["name"] = *u.FullName
	}
	var out user
	if err := a.client.Do(ctx, http.MethodPatch, a.userURL(externalID), body, &out, "update user"); err != nil {
		return nil, err
	}
	return out.profile(), nil
}

// GetUser sends GET /api/v2/users/{id}.
func (a *Adapter) GetUser(ctx context.Context, externalID string) (*idp.Profile, error) {
	var out user
	if err := a.client.Do(ctx, http.MethodGet, a.userURL(externalID)+"?"+fields, nil, &out, "read user"); err != nil {
		return nil, err
	}
	return out.profile(), nil
}

// DeleteUser sends DELETE /api/v2/users/{id}; 404 counts as deleted.
func (a *Adapter) DeleteUser(ctx context.Context, externalID string) error {
	err := a.client.Do(ctx, http.MethodDelete, a.userURL(externalID), nil, nil, "delete user")
	if ae := idp.AsAdminError(err); err != nil && ae.Status == http.StatusNotFound {
		return nil
	}
	return err
}

// FindUsersByEmail sends GET /api/v2/users-by-email?email=... . Auth0
// compares emails exactly, and keeps the emails of its own (database)
// users in lower case, so the email is sent in lower case.
func (a *Adapter) FindUsersByEmail(ctx context.Context, email string) ([]*idp.Profile, error) {
	var out []user
	q := url.Values{"email": {strings.ToLower(email)}}
	if err := a.client.Do(ctx, http.MethodGet, a.base+"/api/v2/users-by-email?"+q.Encode()+"&"+fields, nil, &out, "find users by email"); err != nil {
		return nil, err
	}
	ps := make([]*idp.Profile, len(out))
	for i, u := range out {
		ps[i] = u.profile()
	}
	return ps, nil
}

// InviteUser sends POST /api/v2/users to make the user in the adapter's
// database connection, unverified and with a random password nobody ever
// learns (a database user must have one), then the Authentication API's
// POST /dbconnections/change_password, on which Auth0 emails the person a
// link to set their own. A 409 (the connection holds the email) is
// Permanent. When the user was made but the email could not be asked
// for, it returns the new user with the error.
func (a *Adapter) InviteUser(ctx context.Context, u idp.NewIdentity) (*idp.Profile, error) {
	pw, err := unguessablePassword()
	if err != nil {
		return nil, &idp.AdminError{Kind: idp.Retryable, Reason: "the gateway could not make a random password", Err: err}
	}
	body := map[string]any{"connection": a.connection, "email": strings.ToLower(u.Email), "password": pw,
		"email_verified": false, "verify_email": false}
	if u.FullName != nil {
		body["name"] = *u.FullName
	}
	var out user
	if err := a.client.Do(ctx, http.MethodPost, a.base+"/api/v2/users", body, &out, "create user"); err != nil {
		return nil, err
	}
	p := out.profile()
	reset := map[string]string{"client_id": a.clientID, "email": strings.ToLower(u.Email), "connection": a.connection}
	if err := a.client.DoPublic(ctx, http.MethodPost, a.base+"/dbconnections/change_password", reset, nil, "send the password email"); err != nil {
		return p, err
	}
	return p, nil
}

// CallsPerInvite is how many calls one InviteUser sends.
func (a *Adapter) CallsPerInvite() int { return 2 }

// unguessablePassword is 32 random bytes in base64url with a fixed
// prefix of each character class, so that any password policy of Auth0's
// (up to "excellent": 3 of 4 classes, no three identical characters in a
// row) takes it. It is never stored or logged.
func unguessablePassword() (string, error) {
	for {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		pw := "Aa1!" + base64.RawURLEncoding.EncodeToString(b)
		if !tripled(pw) {
			return pw, nil
		}
	}
}

// tripled reports whether s has three identical characters in a row.
func tripled(s string) bool {
	for i := 2; i < len(s); i++ {
		if s[i] == s[i-1] && s[i] == s[i-2] {
			return true
		}
	}
	return false
}
