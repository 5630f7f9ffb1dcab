package identity_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/identity"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/auth0"
	"github.com/propertyportal/gateway/internal/idp/auth0/auth0test"
	"github.com/propertyportal/gateway/internal/idp/entra"
	"github.com/propertyportal/gateway/internal/idp/entra/entratest"
	"github.com/propertyportal/gateway/internal/idp/idptest"
	"github.com/propertyportal/gateway/internal/idp/keycloak"
	"github.com/propertyportal/gateway/internal/idp/keycloak/keycloaktest"
	"github.com/propertyportal/gateway/internal/idp/providers"
)

// inviter is an admin adapter that can be a migration's target.
type inviter interface {
	idp.AdminAdapter
	idp.Inviter
	CallsPerInvite() int
}

// fakeTarget is a provider fake as a migration's target: its core, the
// adapter that calls it and which of its calls create an identity.
type fakeTarget struct {
	core     *idptest.Core
	adapter  func(timeout time.Duration) inviter
	isCreate func(idptest.Call) bool
	isFind   func(idptest.Call) bool
}

func auth0Target(t *testing.T) fakeTarget {
	f := auth0test.New(t)
	return fakeTarget{core: f.Core,
		adapter: func(d time.Duration) inviter {
			cfg := f.Config()
			cfg.Timeout = idp.Duration(d)
			return auth0.New(cfg, nil)
		},
		isCreate: func(c idptest.Call) bool { return c.Method == http.MethodPost && c.Path == "/api/v2/users" },
		isFind:   func(c idptest.Call) bool { return c.Method == http.MethodGet && c.Path == "/api/v2/users-by-email" }}
}

func keycloakTarget(t *testing.T) fakeTarget {
	f := keycloaktest.New(t)
	users := "/admin/realms/" + keycloaktest.Realm + "/users"
	return fakeTarget{core: f.Core,
		adapter: func(d time.Duration) inviter {
			cfg := f.Config()
			cfg.Timeout = idp.Duration(d)
			return keycloak.New(cfg, nil)
		},
		isCreate: func(c idptest.Call) bool {
			return c.Method == http.MethodPost && (c.Path == users || c.Path == users+"/")
		},
		isFind: func(c idptest.Call) bool {
			return c.Method == http.MethodGet && (c.Path == users || c.Path == users+"/")
		}}
}

func entraTarget(t *testing.T) fakeTarget {
	f := entratest.New(t)
	return fakeTarget{core: f.Core,
		adapter: func(d time.Duration) inviter {
			cfg := f.Config()
			cfg.Timeout = idp.Duration(d)
			return entra.New(cfg, nil)
		},
		isCreate: func(c idptest.Call) bool { return c.Method == http.MethodPost && c.Path == "/v1.0/invitations" },
		isFind:   func(c idptest.Call) bool { return c.Method == http.MethodGet && c.Path == "/v1.0/users" }}
}

// admittedInWindow is the most calls the fake admitted (answered other
// than 429) within any d.
func admittedInWindow(c *idptest.Core, d time.Duration) int {
	var ts []time.Time
	for _, cl := range c.Calls() {
		if cl.Status != http.StatusTooManyRequests {
			ts = append(ts, cl.At)
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	best, lo := 0, 0
	for hi := range ts {
		for ts[hi].Sub(ts[lo]) >= d {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// TestMigrationAtQuotaKilledAndResumed migrates a few thousand users to
// each provider fake in turn, at its quota, with another client of the
// quota causing 429s and some invite answers lost; the first process dies
// mid-run (its connections cut, so it releases nothing), a second resumes
// and is stopped cleanly, a third resumes to the end. Every user ends re-pointed exactly once, with one identity
// created at most, and invoices still joined.
func TestMigrationAtQuotaKilledAndResumed(t *testing.T) {
	if testing.Short() {
		t.Skip("a migration of thousands of users at the quota")
	}
	// Not parallel: the quota is measured on the fakes' clocks.
	for _, tc := range []struct {
		name     string
		from, to string
		target   func(*testing.T) fakeTarget
		users    int
		rps      float64
	}{
		{"Auth0ToKeycloak", "auth0-prod", "keycloak-default", keycloakTarget, 2000, 600},
		{"KeycloakToEntra", "keycloak-default", "entra-corp", entraTarget, 1000, 250},
		{"EntraToAuth0", "entra-corp", "auth0-prod", auth0Target, 1000, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newMigEnv(t, tc.users, tc.from)
			ft := tc.target(t)
			// A third of the users already have a verified identity there.
			for i := 0; i < tc.users; i += 3 {
				ft.core.Put(idptest.User{ID: fmt.Sprintf("pre-%d", i), Email: fmt.Sprintf("m%d@example.com", i), EmailVerified: true})
			}
			ft.core.SetRate(tc.rps)
			ft.core.ShareQuota(tc.rps / 4) // another application takes a quarter: 429s
			ft.core.SetReset(20)           // 20 writes take effect and lose their answer
			var ids []uuid.UUID
			if err := e.db.Select(&ids, `SELECT id FROM directory.users ORDER BY id`); err != nil {
				t.Fatal(err)
			}
			service := func() (*identity.Service, func()) {
				db := pgtestPool(t, e)
				a := ft.adapter(time.Second)
				ads := map[string]providers.Admin{tc.to: {AdminAdapter: a, Inviter: a, RequestsPerSecond: tc.rps,
					CallsPerInvite: a.CallsPerInvite(), CallsPerUpdate: 1, Timeout: time.Second}}
				s := identity.New(db, directory.NewStore(db), comms.NewStore(db), ads, identity.Options{
					Workers: 16, PollInterval: 20 * time.Millisecond, BackoffBase: 100 * time.Millisecond,
					BackoffMax: time.Second, Settle: 300 * time.Millisecond, RateGuard: loadedGuard})
				return s, func() { _ = db.Close(); s.Stop() }
			}
			p := identity.MigrationPlan{From: tc.from, To: tc.to, Grace: time.Hour}
			start := time.Now()

			// The first process dies a few seconds in.
			first, crash := service()
			ctx, cancel := context.WithCancel(context.Background())
			first.Start(ctx)
			m, _, _, err := first.StartMigration(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				// Once the run is calling, a burst of the other client
				// takes more than the whole quota for a moment: the window
				// fills whatever pace the gateway keeps on this machine,
				// every process gets 429s and slows down.
				for deadline := time.Now().Add(10 * time.Second); len(ft.core.Calls()) < 100 && time.Now().Before(deadline); {
					time.Sleep(10 * time.Millisecond)
				}
				ft.core.ShareQuota(2 * tc.rps)
				time.Sleep(500 * time.Millisecond)
				ft.core.ShareQuota(tc.rps / 4)
				time.Sleep(1500 * time.Millisecond)
				crash()
				cancel()
			}()
			if _, err := first.RunMigration(ctx, m.ID, identity.RunOptions{}); err == nil {
				t.Fatal("the first run finished before it was killed; make it longer")
			}
			<-ctx.Done()
			mid := e.count(`SELECT count(*) FROM identity.migration_users WHERE state = 'done'`)
			if mid == 0 || mid == tc.users {
				t.Fatalf("%d of %d done when killed", mid, tc.users)
			}

			// A second resumes and is stopped cleanly (Ctrl-C) a second in.
			second, stopSecond := service()
			ctx, cancel = context.WithTimeout(context.Background(), time.Second)
			second.Start(ctx)
			if m, _, _, err = second.StartMigration(ctx, p); err != nil {
				t.Fatal(err)
			}
			if _, err := second.RunMigration(ctx, m.ID, identity.RunOptions{}); err == nil {
				t.Fatal("the second run finished before it was stopped")
			}
			cancel()
			stopSecond()
			if n := e.count(`SELECT count(*) FROM identity.migration_users WHERE state = 'failed'`); n != 0 {
				t.Fatalf("%d users failed when stopped", n)
			}

			// A third resumes to the end.
			third, stop := service()
			defer stop()
			m = migrate(t, third, p)
			t.Logf("%d users to %s in %s (%d done before the kill), %d calls, %d refused 429, the other client refused %d",
				tc.users, tc.to, time.Since(start).Round(time.Millisecond), mid, len(ft.core.Calls()), ft.core.Count429(),
				func() int { _, r := ft.core.OtherCalls(); return r }())
			if m.State != identity.MigrationFinished || m.Done != tc.users || m.Failed != 0 || m.Skipped != 0 {
				t.Fatalf("migration %+v", m)
			}

			var after []uuid.UUID
			if err := e.db.Select(&after, `SELECT id FROM directory.users WHERE idp_id = $1 ORDER BY id`, tc.to); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(after) != fmt.Sprint(ids) {
				t.Fatalf("%d of %d users on the target, or ids changed", len(after), len(ids))
			}
			// Re-pointed exactly once: one ended link of the source, one
			// current of the target, each user.
			if n := e.count(`SELECT count(*) FROM (SELECT user_id FROM directory.identity_links GROUP BY user_id
				HAVING count(*) = 2 AND count(*) FILTER (WHERE idp_id = $1 AND unlinked_at IS NOT NULL) = 1
				AND count(*) FILTER (WHERE idp_id = $2 AND unlinked_at IS NULL) = 1) x`, tc.from, tc.to); n != tc.users {
				t.Errorf("%d users re-pointed exactly once", n)
			}
			// Each user's identity at the target holds their email.
			var rows []struct {
				Ext   string `db:"external_id"`
				Email string `db:"email"`
			}
			if err := e.db.Select(&rows, `SELECT external_id, email FROM directory.users WHERE idp_id = $1`, tc.to); err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if u, ok := ft.core.Get(r.Ext); !ok || !strings.EqualFold(u.Email, r.Email) {
					t.Fatalf("a user points at identity %q, which the target does not hold with their email", r.Ext)
				}
			}
			if got := len(ft.core.Users()); got != tc.users {
				t.Errorf("the target holds %d identities for %d users: a second create", got, tc.users)
			}
			creates, refused, finds := 0, 0, 0
			for _, cl := range ft.core.Calls() {
				if ft.isFind(cl) && cl.Status == http.StatusOK {
					finds++
				}
				if ft.isCreate(cl) {
					switch {
					case cl.Status == http.StatusConflict:
						refused++
					case cl.Status/100 == 2 || cl.Lost:
						creates++
					}
				}
			}
			// One find per user, and one more only after an invite that
			// did not answer (20 resets, the calls cut by the kill and the
			// stop, 16 workers each) or answered 429.
			if finds < tc.users || finds > tc.users+20+2*16+ft.core.Count429() {
				t.Errorf("%d finds for %d users", finds, tc.users)
			}
			invited := tc.users - (tc.users+2)/3
			if creates != invited || refused != 0 {
				t.Errorf("%d creates (want %d), %d refused as duplicates", creates, invited, refused)
			}
			if ft.core.Count429() == 0 {
				t.Error("the fake never answered 429")
			}
			if n := admittedInWindow(ft.core, time.Second); float64(n) > tc.rps {
				t.Errorf("%d calls admitted within one second; the quota is %g", n, tc.rps)
			}
			if n := e.count(`SELECT count(*) FROM bookkeeping.invoices i JOIN directory.users u ON u.id = i.created_by_user_id
				WHERE u.idp_id = $1`, tc.to); n != tc.users {
				t.Errorf("%d invoices joined to their moved users", n)
			}
			if n := e.count(`SELECT count(*) FROM identity.outbox WHERE email IS NOT NULL OR full_name IS NOT NULL
				OR sent_email IS NOT NULL OR state NOT IN ('applied')`); n != 0 {
				t.Errorf("%d outbox rows unfinished or holding values", n)
			}
		})
	}
}

// TestMigrationConflictsAtTheFakes: what each provider's admin API answers
// decides the conflicts it alone knows of: several identities with the
// email, an unverified one, one linked to another user.
func TestMigrationConflictsAtTheFakes(t *testing.T) {
	t.Parallel()
	for name, target := range map[string]func(*testing.T) fakeTarget{
		"Auth0": auth0Target, "Keycloak": keycloakTarget, "Entra": entraTarget,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newMigEnv(t, 4, srcIdP)
			ft := target(t)
			ft.core.Put(idptest.User{ID: "several-a", Email: "m0@example.com", EmailVerified: true})
			ft.core.Put(idptest.User{ID: "several-b", Email: "M0@example.com", EmailVerified: true})
			ft.core.Put(idptest.User{ID: "unverified", Email: "m1@example.com"})
			ft.core.Put(idptest.User{ID: "taken", Email: "m2@example.com", EmailVerified: true})
			e.exec(`INSERT INTO directory.users (tenant_id, idp_id, external_id, email) VALUES ($1, $2, 'taken', 'x@example.com')`, e.tenant, dstIdP)
			ft.core.Put(idptest.User{ID: "mine", Email: "m3@example.com", EmailVerified: true})
			a := ft.adapter(5 * time.Second)
			ads := map[string]providers.Admin{dstIdP: {AdminAdapter: a, Inviter: a, RequestsPerSecond: 50,
				CallsPerInvite: a.CallsPerInvite(), Timeout: 5 * time.Second}}
			s := identity.New(e.db, directory.NewStore(e.db), comms.NewStore(e.db), ads, identity.Options{PollInterval: 20 * time.Millisecond})
			m := migrate(t, s, plan)
			want := map[identity.MigrationReason]int{identity.ReasonSeveralIdentities: 1, identity.ReasonUnverifiedEmail: 1,
				identity.ReasonLinkedToOtherUser: 1}
			if got := failures(m); fmt.Sprint(got) != fmt.Sprint(want) || m.Done != 1 {
				t.Fatalf("migration %+v, failures %v", m, got)
			}
			if n := e.count(`SELECT count(*) FROM directory.users WHERE id = $1 AND idp_id = $2 AND external_id = 'mine'`, e.users[3], dstIdP); n != 1 {
				t.Error("the verified identity was not adopted")
			}
			for _, cl := range ft.core.Calls() {
				if ft.isCreate(cl) {
					t.Errorf("a conflict created an identity: %s %s", cl.Method, cl.Path)
				}
			}
		})
	}
}
