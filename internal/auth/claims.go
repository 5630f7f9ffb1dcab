package auth

import (
	"strings"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/idp"
)

// identityOf maps a verified token's claims to an identity by the
// adapter's claim paths, or returns why it cannot (a reason class).
func identityOf(c *idp.Config, tok jwt.Token) (idp.Identity, string) {
	claims := map[string]any{}
	for _, k := range tok.Keys() {
		var v any
		if err := tok.Get(k, &v); err == nil {
			claims[k] = v
		}
	}
	id := idp.Identity{IdPID: c.ID}
	if iat, ok := tok.IssuedAt(); ok {
		id.IssuedAt = iat
	}
	role, ok := c.MapRole(stringsAt(claims, c.RolesClaim))
	if !ok {
		return id, "no_role"
	}
	if role == access.RoleInternal {
		// Internal reads every tenant: only the clients named to hold it do.
		// Any other client is refused, not given a lesser role.
		client, _ := lookup(claims, c.ClientClaim).(string)
		if !c.InternalClient(client) {
			return id, "internal_client"
		}
	}
	id.Role = role

	sub, _ := lookup(claims, c.SubjectClaim).(string)
	if sub == "" || len(sub) > 255 {
		return id, "no_subject"
	}
	id.ExternalID = sub

	switch {
	case c.Tenant != "":
		id.TenantID = uuid.MustParse(c.Tenant) // checked by Normalize
	default:
		t, _ := lookup(claims, c.TenantClaim).(string)
		tenant, err := uuid.Parse(t)
		if err != nil && role != access.RoleInternal {
			return id, "no_tenant"
		}
		id.TenantID = tenant
	}
	if role == access.RoleInternal {
		// A service account reads across tenants and is no directory user.
		id.TenantID = uuid.Nil
		return id, ""
	}
	if e, ok := lookup(claims, c.EmailClaim).(string); ok && e != "" && len(e) <= 320 {
		id.Email = &e
	}
	if id.Email != nil && c.TrustEmailVerified {
		id.EmailVerified = verified(lookup(claims, c.EmailVerifiedClaim))
	}
	if n, ok := lookup(claims, c.NameClaim).(string); ok && n != "" && len(n) <= 300 {
		id.FullName = &n
	}
	return id, ""
}

// verified reads an email_verified claim: the boolean true or the string
// "true" (some IdPs send strings); anything else is not verified.
func verified(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

// lookup finds a claim by path: a whole name that exists at the top level
// is taken as is (Auth0's namespaced "https://example.com/roles");
// otherwise dots walk into objects ("realm_access.roles").
func lookup(claims map[string]any, path string) any {
	if v, ok := claims[path]; ok {
		return v
	}
	var cur any = claims
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[part]; !ok {
			return nil
		}
	}
	return cur
}

// stringsAt returns the claim at path as a list of strings: a single string
// is a list of one; a space-separated string (an OAuth scope) is split.
func stringsAt(claims map[string]any, path string) []string {
	switch v := lookup(claims, path).(type) {
	case string:
		return strings.Fields(v)
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return v
	}
	return nil
}
