// Package keycloak is everything the gateway knows of Keycloak: its claim
// defaults (DefaultClaims), the admin adapter for the Admin REST API (New: it
// changes, reads and deletes users of one realm with a client-credentials
// token from the realm's token endpoint, for a service-account client with
// the realm-management manage-users role; Keycloak keeps first and last
// name apart, and the adapter splits a full name at its first space) and
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
	ID        string  `json:"id,omitempty"`
	Email     *string `json:"email,omitempty"`
	FirstName *string `json:"firstName,omitempty"`
	LastName  *string `json:"lastName,omitempty"`
}

// SplitName splits a full name into Keycloak's firstName and lastName at
// the first space.
func SplitName(full string) (first, last string) {
	full = strings.TrimSpace(full)
	first, last, _ = strings.Cut(full, " ")
	return first, strings.TrimSpace(last)
}

func (u user) profile() *idp.Profile {
	p := &idp.Profile{ExternalID: u.ID, Email: u.Email}
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
