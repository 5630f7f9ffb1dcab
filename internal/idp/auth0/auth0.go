// Package auth0 is everything the gateway knows of Auth0: its claim
// defaults (DefaultClaims), the admin adapter for the Management API v2 (New: it
// changes, reads and deletes users with a client-credentials token, cached
// until it expires, and classifies Auth0's answers, 429 with
// X-RateLimit-Reset included) and the verifier of its log stream's
// deliveries (webhook.go). It never logs or returns PII in errors.
package auth0

import (
	"context"
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
	base   string
	client *idp.AdminClient
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
	return &Adapter{base: base, client: c}
}

// user is the part of Auth0's user object the gateway reads.
type user struct {
	UserID string  `json:"user_id"`
	Email  *string `json:"email"`
	Name   *string `json:"name"`
}

func (u user) profile() *idp.Profile {
	return &idp.Profile{ExternalID: u.UserID, Email: u.Email, FullName: u.Name}
}

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
	if err := a.client.Do(ctx, http.MethodGet, a.userURL(externalID)+"?fields=user_id,email,name&include_fields=true", nil, &out, "read user"); err != nil {
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
