package policy_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/apperr"
	"github.com/propertyportal/gateway/internal/policy"
)

// A filter, search or order on a kind of PII is open exactly to the roles
// that see that kind on every row; a refusal is Forbidden naming the field
// and never the value.
func TestCanFilter(t *testing.T) {
	tenant := uuid.New()
	scopes := map[string]access.Scope{
		"Admin":    {Role: access.RoleAdmin, TenantID: tenant, UserID: uuid.New()},
		"Internal": {Role: access.RoleInternal},
		"Provider": {Role: access.RoleProvider, TenantID: tenant, UserID: uuid.New()},
	}
	for _, c := range []struct {
		role  string
		kinds []policy.Kind
		ok    bool
	}{
		{"Admin", []policy.Kind{policy.Email, policy.Name, policy.Phone}, true},
		{"Internal", []policy.Kind{policy.Email, policy.Name, policy.Phone}, true},
		{"Provider", []policy.Kind{policy.Name}, true},
		{"Provider", []policy.Kind{policy.Email}, false},
		{"Provider", []policy.Kind{policy.Phone}, false},
		{"Provider", []policy.Kind{policy.Name, policy.Email}, false},
		{"Provider", []policy.Kind{policy.Name, policy.Email, policy.Phone}, false},
	} {
		err := policy.CanFilter(scopes[c.role], "filter.search", c.kinds...)
		if c.ok {
			if err != nil {
				t.Errorf("%s on %v: %v, want allowed", c.role, c.kinds, err)
			}
			continue
		}
		e := apperr.As(err)
		if e == nil || e.Kind != apperr.Forbidden || e.Field != "filter.search" {
			t.Errorf("%s on %v: %v, want Forbidden on filter.search", c.role, c.kinds, err)
		}
	}
}
