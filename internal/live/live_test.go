package live_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/live"
)

func TestSees(t *testing.T) {
	tenant, other := uuid.New(), uuid.New()
	user, colleague := uuid.New(), uuid.New()
	ev := live.Event{ChangeID: 1, UserID: user, TenantID: tenant}
	for name, c := range map[string]struct {
		scope access.Scope
		want  bool
	}{
		"OwnChange":              {access.Scope{Role: access.RoleProvider, TenantID: tenant, UserID: user}, true},
		"ColleaguesChange":       {access.Scope{Role: access.RoleProvider, TenantID: tenant, UserID: colleague}, false},
		"ProviderWithoutUser":    {access.Scope{Role: access.RoleProvider, TenantID: tenant}, false},
		"SameIDOtherTenant":      {access.Scope{Role: access.RoleProvider, TenantID: other, UserID: user}, false},
		"AdminOfTenant":          {access.Scope{Role: access.RoleAdmin, TenantID: tenant}, true},
		"OtherTenantSeesNothing": {access.Scope{Role: access.RoleAdmin, TenantID: other}, false},
		"Internal":               {access.Scope{Role: access.RoleInternal}, true},
		"NoRole":                 {access.Scope{TenantID: tenant, UserID: user}, false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := live.Sees(c.scope, ev); got != c.want {
				t.Errorf("Sees = %v, want %v", got, c.want)
			}
		})
	}
}
