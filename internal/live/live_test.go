package live_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/live"
	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

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

// TestNoticeCarriesIDsOnly: migration 00038's notice names the change, its
// user and its state, never the email or name it carries, and only for a
// state a client sees change.
func TestNoticeCarriesIDsOnly(t *testing.T) {
	url := pgtest.URL(t)
	db, err := postgres.Open(context.Background(), url, postgres.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tenant, user := uuid.New(), uuid.New()
	db.MustExec(`INSERT INTO directory.tenants (id, name) VALUES ($1, 'T')`, tenant)
	db.MustExec(`INSERT INTO directory.users (id, tenant_id, idp_id, external_id, email, full_name) VALUES ($1, $2, 'x', 'ext', 'a@example.com', 'A')`, user, tenant)
	var change int64
	if err := db.Get(&change, `INSERT INTO identity.outbox (user_id, idp_id, external_id, op, email, full_name)
		VALUES ($1, 'x', 'ext', 'update', 'secret@example.com', 'Secret Name') RETURNING id`, user); err != nil {
		t.Fatal(err)
	}
	l := pq.NewListener(url, 10*time.Millisecond, time.Second, nil)
	defer l.Close()
	if err := l.Listen(live.IdentityChangeChannel); err != nil {
		t.Fatal(err)
	}
	db.MustExec(`UPDATE identity.outbox SET state = 'running' WHERE id = $1`, change)
	select {
	case n := <-l.Notify:
		t.Fatalf("claiming a change notified %v", n)
	case <-time.After(300 * time.Millisecond):
	}
	db.MustExec(`UPDATE identity.outbox SET state = 'applied' WHERE id = $1`, change)
	select {
	case n := <-l.Notify:
		var p map[string]any
		if err := json.Unmarshal([]byte(n.Extra), &p); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"id": float64(change), "user_id": user.String(), "state": "applied"}
		if len(p) != len(want) || p["id"] != want["id"] || p["user_id"] != want["user_id"] || p["state"] != want["state"] {
			t.Errorf("payload %s, want %v", n.Extra, want)
		}
		if strings.Contains(n.Extra, "@") || strings.Contains(n.Extra, "Secret") {
			t.Errorf("the payload carries PII: %s", n.Extra)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notice for the applied change")
	}
}
