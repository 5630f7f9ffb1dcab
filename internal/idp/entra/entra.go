// Package entra is everything the gateway knows of Microsoft Entra ID: its
// claim defaults (DefaultClaims), the admin adapter for Microsoft Graph v1.0 (New:
// it changes displayName and mail, reads and deletes users with an
// app-only client-credentials token from the Microsoft identity platform
// (it also finds users by mail and invites guests through /invitations),
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
	graph    string // BaseURL/v1.0
	users    string // BaseURL/v1.0/users/
	redirect string // inviteRedirectUrl of invitations; "": no invites
	client   *idp.AdminClient
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
	return &Adapter{graph: base + "/v1.0", users: base + "/v1.0/users/", redirect: cfg.InviteRedirectURL, client: c}
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
	// ExternalUserState is a guest's invitation: PendingAcceptance or
	// Accepted; null for a member.
	ExternalUserState *string `json:"externalUserState,omitempty"`
}

// selected are the properties the adapter reads.
const selected = "$select=id,displayName,mail,externalUserState"

// profile normalises u as read with selected. A member (no invitation)
// or a guest who accepted counts as verified: Graph states no more.
func (u user) profile() *idp.Profile {
	verified := u.ExternalUserState == nil || *u.ExternalUserState == "Accepted"
	return &idp.Profile{ExternalID: u.ID, Email: u.Mail, FullName: u.DisplayName, EmailVerified: verified}
}

// UpdateUser sends PATCH /v1.0/users/{id} with mail and displayName;
// Graph answers 204, so the profile it returns is what was sent, and
// EmailVerified is false (unknown).
func (a *Adapter) UpdateUser(ctx context.Context, externalID string, u idp.ProfileUpdate) (*idp.Profile, error) {
	body := user{Mail: u.Email, DisplayName: u.FullName}
	if err := a.client.Do(ctx, http.MethodPatch, a.users+url.PathEscape(externalID), body, nil, "update user"); err != nil {
		return nil, err
	}
	body.ID = externalID
	p := body.profile()
	p.EmailVerified = false // Graph answered 204 and said nothing of the invitation
	return p, nil
}

// GetUser sends GET /v1.0/users/{id}?$select=id,displayName,mail,externalUserState.
func (a *Adapter) GetUser(ctx context.Context, externalID string) (*idp.Profile, error) {
	var out user
	if err := a.client.Do(ctx, http.MethodGet, a.users+url.PathEscape(externalID)+"?"+selected, nil, &out, "read user"); err != nil {
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

// FindUsersByEmail sends GET /v1.0/users?$filter=mail eq '...' (an OData
// string: single quotes doubled) with $select; Graph compares mail
// case-insensitively. EmailVerified: a member, or a guest whose
// externalUserState is Accepted (not PendingAcceptance).
func (a *Adapter) FindUsersByEmail(ctx context.Context, email string) ([]*idp.Profile, error) {
	filter := "mail eq '" + strings.ReplaceAll(email, "'", "''") + "'"
	// QueryEscape writes a space as +, which OData may read as a plus.
	q := "$filter=" + strings.ReplaceAll(url.QueryEscape(filter), "+", "%20") + "&" + selected
	var out struct {
		Value []user `json:"value"`
	}
	if err := a.client.Do(ctx, http.MethodGet, strings.TrimSuffix(a.users, "/")+"?"+q, nil, &out, "find users by email"); err != nil {
		return nil, err
	}
	ps := make([]*idp.Profile, len(out.Value))
	for i, u := range out.Value {
		ps[i] = u.profile()
	}
	return ps, nil
}

// InviteUser sends POST /v1.0/invitations (invitedUserEmailAddress,
// invitedUserDisplayName, inviteRedirectUrl from admin.invite_redirect_url,
// sendInvitationMessage true): Graph makes a guest user, PendingAcceptance,
// and emails the invitation itself. Without invite_redirect_url it sends
// nothing and fails Permanent.
func (a *Adapter) InviteUser(ctx context.Context, u idp.NewIdentity) (*idp.Profile, error) {
	if a.redirect == "" {
		return nil, &idp.AdminError{Kind: idp.Permanent,
			Reason: "entra invitations need admin.invite_redirect_url, which is not set"}
	}
	body := map[string]any{"invitedUserEmailAddress": u.Email, "inviteRedirectUrl": a.redirect, "sendInvitationMessage": true}
	if u.FullName != nil {
		body["invitedUserDisplayName"] = *u.FullName
	}
	var out struct {
		InvitedUser struct {
			ID string `json:"id"`
		} `json:"invitedUser"`
	}
	if err := a.client.Do(ctx, http.MethodPost, a.graph+"/invitations", body, &out, "invite user"); err != nil {
		return nil, err
	}
	if out.InvitedUser.ID == "" {
		return nil, &idp.AdminError{Kind: idp.Retryable, Status: http.StatusCreated, Unknown: true,
			Reason: "the identity provider invited the user without saying its id"}
	}
	p := &idp.Profile{ExternalID: out.InvitedUser.ID, Email: &u.Email}
	if u.FullName != nil {
		n := *u.FullName
		p.FullName = &n
	}
	return p, nil
}

// CallsPerInvite is how many calls one InviteUser sends.
func (a *Adapter) CallsPerInvite() int { return 1 }
