// Package entra is everything the gateway knows of Microsoft Entra ID: its
// claim defaults (DefaultClaims), the admin adapter for Microsoft Graph v1.0 (New:
// it changes displayName and mail, reads and deletes users with an
// app-only client-credentials token from the Microsoft identity platform,
// scope https://graph.microsoft.com/.default, cached until it expires;
// Graph's throttling answers 429 with Retry-After) and the verifier of
// Graph's change notifications (webhook.go). It never logs or returns PII
// in errors.
package entra

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/propertyportal/gateway/internal/idp"
)

// DefaultClaims are the claims of Entra tokens: the user is the object id, oid,
// which stays when sub (per application) would not.
var DefaultClaims = idp.ClaimDefaults{Subject: "oid", Roles: "roles"}

// Adapter calls Microsoft Graph for one Entra tenant.
type Adapter struct {
	users  string // BaseURL/v1.0/users/
	client *idp.AdminClient
}

// New makes an adapter from cfg (normalised); hc may be nil.
func New(cfg idp.AdminConfig, hc *http.Client) *Adapter {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = "https://graph.microsoft.com"
	}
	tokenURL := cfg.TokenURL
	if tokenURL == "" {
		tokenURL = "https://login.microsoftonline.com/" + url.PathEscape(cfg.TenantID) + "/oauth2/v2.0/token"
	}
	cc := clientcredentials.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: tokenURL,
		Scopes: []string{"https://graph.microsoft.com/.default"}, AuthStyle: oauth2.AuthStyleInParams}
	c := idp.NewAdminClient(cc, time.Duration(cfg.Timeout), hc)
	c.ErrorCode = errorCode
	return &Adapter{users: base + "/v1.0/users/", client: c}
}

var safeCode = regexp.MustCompile(`^[A-Za-z_]{1,64}$`)

// errorCode reads Graph's error shape {"error": {"code", "message"}},
// keeping the code only (e.g. Request_ResourceNotFound).
func errorCode(b []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || !safeCode.MatchString(e.Error.Code) {
		return ""
	}
	return e.Error.Code
}

type user struct {
	ID          string  `json:"id,omitempty"`
	DisplayName *string `json:"displayName,omitempty"`
	Mail        *string `json:"mail,omitempty"`
}

func (u user) profile() *idp.Profile {
	return &idp.Profile{ExternalID: u.ID, Email: u.Mail, FullName: u.DisplayName}
}

// UpdateUser sends PATCH /v1.0/users/{id} with mail and displayName;
// Graph answers 204.
func (a *Adapter) UpdateUser(ctx context.Context, externalID string, u idp.ProfileUpdate) (*idp.Profile, error) {
	body := user{Mail: u.Email, DisplayName: u.FullName}
	if err := a.client.Do(ctx, http.MethodPatch, a.users+url.PathEscape(externalID), body, nil, "update user"); err != nil {
		return nil, err
	}
	body.ID = externalID
	return body.profile(), nil
}

// GetUser sends GET /v1.0/users/{id}?$select=id,displayName,mail.
func (a *Adapter) GetUser(ctx context.Context, externalID string) (*idp.Profile, error) {
	var out user
	if err := a.client.Do(ctx, http.MethodGet, a.users+url.PathEscape(externalID)+"?$select=id,displayName,mail", nil, &out, "read user"); err != nil {
		return nil, err
	}
	return out.profile(), nil
}

// DeleteUser sends DELETE /v1.0/users/{id}; 404 counts as deleted.
func (a *Adapter) DeleteUser(ctx context.Context, externalID string) error {
	err := a.client.Do(ctx, http.MethodDelete, a.users+url.PathEscape(externalID), nil, nil, "delete user")
	if ae := idp.AsAdminError(err); err != nil && ae.Status == http.StatusNotFound {
		return nil
	}
	return err
}
