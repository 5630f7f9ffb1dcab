// Package keycloak is everything the gateway knows of Keycloak: its claim
// defaults (DefaultClaims), the admin adapter for the Admin REST API (New: it
// changes, reads and deletes users of one realm with a client-credentials
// token from the realm's token endpoint, for a service-account client with
// the realm-management manage-users role; Keycloak keeps first and last
// name apart, and the adapter splits a full name at its first space; it
// also finds users by email and invites them with Keycloak's
// execute-actions email) and
// the verifier of the keycloak-events deliveries (webhook.go). It never
// logs or returns PII in errors.
package keycloak

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

// DefaultClaims are the claims of Keycloak tokens: realm roles sit in
// realm_access.roles.
var DefaultClaims = idp.ClaimDefaults{Subject: "sub", Roles: "realm_access.roles"}

// Adapter calls one Keycloak realm's admin API.
type Adapter struct {
	users  string // BaseURL/admin/realms/REALM/users/
	client *idp.AdminClient
}

// New makes an adapter from cfg (normalised); hc may be nil.
func New(cfg idp.AdminConfig, hc *http.Client) *Adapter {
	base := strings.TrimRight(cfg.BaseURL, "/")
	realm := url.PathEscape(cfg.Realm)
	tokenURL := cfg.TokenURL
	if tokenURL == "" {
		tokenURL = base + "/realms/" + realm + "/protocol/openid-connect/token"
	}
	cc := clientcredentials.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: tokenURL,
		AuthStyle: oauth2.AuthStyleInParams}
	c := idp.NewAdminClient(cc, time.Duration(cfg.Timeout), hc)
	c.ErrorCode = errorCode
	return &Adapter{users: base + "/admin/realms/" + realm + "/users/", client: c}
}

var safeCode = regexp.MustCompile(`^[a-z_]{1,64}$`)

// errorCode reads Keycloak's error shapes ({"error": "..."} or
// {"errorMessage": "..."}), keeping only machine codes such as
// invalid_request; free text is dropped because it may echo input.
func errorCode(b []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || !safeCode.MatchString(e.Error) {
		return ""
	}
	return e.Error
}

// user is the part of Keycloak's UserRepresentation the gateway uses.
type user struct {
	ID            string  `json:"id,omitempty"`
	Email         *string `json:"email,omitempty"`
	FirstName     *string `json:"firstName,omitempty"`
	LastName      *string `json:"lastName,omitempty"`
	EmailVerified bool    `json:"emailVerified"`
}

// SplitName splits a full name into Keycloak's firstName and lastName at
// the first space.
func SplitName(full string) (first, last string) {
	full = strings.TrimSpace(full)
	first, last, _ = strings.Cut(full, " ")
	return first, strings.TrimSpace(last)
}

func (u user) profile() *idp.Profile {
	p := &idp.Profile{ExternalID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified}
	var parts []string
	for _, s := range []*string{u.FirstName, u.LastName} {
		if s != nil && *s != "" {
			parts = append(parts, *s)
		}
	}
	if len(parts) > 0 {
		n := strings.Join(parts, " ")
		p.FullName = &n
	}
	return p
}

// UpdateUser sends GET and then PUT /admin/realms/{realm}/users/{id} with
// the whole UserRepresentation, changed; Keycloak answers 204.
func (a *Adapter) UpdateUser(ctx context.Context, externalID string, u idp.ProfileUpdate) (*idp.Profile, error) {
	// Keycloak 24 and later no longer take partial updates: a PUT that leaves
	// out email, firstName, lastName or attributes clears them. So the
	// whole representation is read, changed and written back (two calls;
	// CallsPerUpdate tells the quota).
	var rep map[string]any
	if err := a.client.Do(ctx, http.MethodGet, a.users+url.PathEscape(externalID), nil, &rep, "read user"); err != nil {
		return nil, err
	}
	for _, derived := range []string{"access", "userProfileMetadata", "self", "credentials"} {
		delete(rep, derived) // returned by GET, not part of an update
	}
	if u.Email != nil {
		rep["email"] = *u.Email
	}
	if u.FullName != nil {
		first, last := SplitName(*u.FullName)
		rep["firstName"], rep["lastName"] = first, last
	}
	if err := a.client.Do(ctx, http.MethodPut, a.users+url.PathEscape(externalID), rep, nil, "update user"); err != nil {
		return nil, err
	}
	out := user{ID: externalID}
	out.EmailVerified, _ = rep["emailVerified"].(bool)
	for k, dst := range map[string]**string{"email": &out.Email, "firstName": &out.FirstName, "lastName": &out.LastName} {
		if v, ok := rep[k].(string); ok {
			*dst = &v
		}
	}
	return out.profile(), nil
}

// CallsPerUpdate is how many admin calls one UpdateUser sends.
func (a *Adapter) CallsPerUpdate() int { return 2 }

// GetUser sends GET /admin/realms/{realm}/users/{id}.
func (a *Adapter) GetUser(ctx context.Context, externalID string) (*idp.Profile, error) {
	var out user
	if err := a.client.Do(ctx, http.MethodGet, a.users+url.PathEscape(externalID), nil, &out, "read user"); err != nil {
		return nil, err
	}
	return out.profile(), nil
}

// DeleteUser sends DELETE /admin/realms/{realm}/users/{id}; 404 counts as
// deleted.
func (a *Adapter) DeleteUser(ctx context.Context, externalID string) error {
	err := a.client.Do(ctx, http.MethodDelete, a.users+url.PathEscape(externalID), nil, nil, "delete user")
	if ae := idp.AsAdminError(err); err != nil && ae.Status == http.StatusNotFound {
		return nil
	}
	return err
}

// FindUsersByEmail sends GET /admin/realms/{realm}/users?email=...&exact=true;
// Keycloak keeps emails in lower case and compares them so.
func (a *Adapter) FindUsersByEmail(ctx context.Context, email string) ([]*idp.Profile, error) {
	q := url.Values{"email": {email}, "exact": {"true"}}
	var out []user
	if err := a.client.Do(ctx, http.MethodGet, strings.TrimSuffix(a.users, "/")+"?"+q.Encode(), nil, &out, "find users by email"); err != nil {
		return nil, err
	}
	ps := make([]*idp.Profile, len(out))
	for i, u := range out {
		ps[i] = u.profile()
	}
	return ps, nil
}

// InviteActions are the required actions an invited user's email asks
// for: set a password, and prove the email by following the link.
var InviteActions = []string{"UPDATE_PASSWORD", "VERIFY_EMAIL"}

// InviteUser sends POST /admin/realms/{realm}/users (username and email
// the email, the name split as UpdateUser splits it, enabled, unverified,
// no credentials), which answers 201 with the new id in Location, then PUT
// /admin/realms/{realm}/users/{id}/execute-actions-email with
// InviteActions, on which Keycloak emails the person a link to set their
// password (the realm needs SMTP). A 409 (username or email exists) is
// Permanent. When the user was made but the email could not be sent, it
// returns the new user with the error.
func (a *Adapter) InviteUser(ctx context.Context, u idp.NewIdentity) (*idp.Profile, error) {
	email := strings.ToLower(u.Email)
	rep := map[string]any{"username": email, "email": email, "enabled": true, "emailVerified": false}
	made := user{Email: &email}
	if u.FullName != nil {
		first, last := SplitName(*u.FullName)
		rep["firstName"], rep["lastName"] = first, last
		made.FirstName, made.LastName = &first, &last
	}
	h, err := a.client.DoHeader(ctx, http.MethodPost, strings.TrimSuffix(a.users, "/"), rep, nil, "create user")
	if err != nil {
		return nil, err
	}
	id := newID(h.Get("Location"))
	if id == "" {
		// Made, but which is it? Only a search by email can tell.
		return nil, &idp.AdminError{Kind: idp.Retryable, Status: http.StatusCreated, Unknown: true,
			Reason: "the identity provider created the user without saying its id"}
	}
	made.ID = id
	if err := a.client.Do(ctx, http.MethodPut, a.users+url.PathEscape(id)+"/execute-actions-email", InviteActions, nil, "send the invite email"); err != nil {
		return made.profile(), err
	}
	return made.profile(), nil
}

// CallsPerInvite is how many calls one InviteUser sends.
func (a *Adapter) CallsPerInvite() int { return 2 }

// newID reads the id from a create's Location, .../users/{id} (the host
// and path before may be Keycloak's public ones, not the admin URL's);
// "" when it holds none.
func newID(location string) string {
	loc, err := url.Parse(location)
	if err != nil {
		return ""
	}
	parts := strings.Split(loc.EscapedPath(), "/")
	if len(parts) < 2 || parts[len(parts)-2] != "users" || parts[len(parts)-1] == "" {
		return ""
	}
	id, err := url.PathUnescape(parts[len(parts)-1])
	if err != nil {
		return ""
	}
	return id
}
