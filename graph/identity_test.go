package graph_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/graph"
	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/auth/authtest"
	"github.com/propertyportal/gateway/internal/bookkeeping"
	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/httpserver"
	"github.com/propertyportal/gateway/internal/identity"
	"github.com/propertyportal/gateway/internal/idp/auth0"
	"github.com/propertyportal/gateway/internal/idp/auth0/auth0test"
	"github.com/propertyportal/gateway/internal/idp/idptest"
	"github.com/propertyportal/gateway/internal/idp/providers"
	"github.com/propertyportal/gateway/internal/loader"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
	"github.com/propertyportal/gateway/internal/property"
)

// identityEnv is an env whose gateway has identity updates wired to an
// Auth0 fake; the workers run only when start is called.
type identityEnv struct {
	*env
	fake *auth0test.Fake
	svc  *identity.Service
}

func newIdentityEnv(t *testing.T, opts identity.Options) *identityEnv {
	t.Helper()
	db := pgtest.DB(t)
	fake := auth0test.New(t)
	ads := map[string]providers.Admin{"auth0-prod": {AdminAdapter: auth0.New(fake.Config(), nil), RequestsPerSecond: 50}}
	opts.PollInterval = 20 * time.Millisecond
	st := loader.Stores{
		Directory: directory.NewStore(db), Comms: comms.NewStore(db),
		Property: property.NewStore(db), Bookkeeping: bookkeeping.NewStore(db),
	}
	svc := identity.New(db, st.Directory, st.Comms, ads, opts)
	h := httpserver.New(httpserver.Deps{
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		DBs: []*sqlx.DB{db},
		Schema: graph.NewSchema(&graph.Resolver{Directory: st.Directory, Comms: st.Comms, Property: st.Property,
			Bookkeeping: st.Bookkeeping, MaxPage: 100, Identity: svc}),
		Stores:        st,
		Authenticator: authtest.Authenticator{},
		MaxPageSize:   100,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &identityEnv{env: &env{t: t, db: db, srv: srv}, fake: fake, svc: svc}
}

// person is a user at the fake with a linked contact.
func (e *identityEnv) person(tenant uuid.UUID, email, name, phone string) (user, contact uuid.UUID) {
	user = e.user(tenant, "auth0-prod", email, name)
	var ext string
	if err := e.db.Get(&ext, `SELECT external_id FROM directory.users WHERE id = $1`, user); err != nil {
		e.t.Fatal(err)
	}
	e.fake.Put(idptest.User{ID: ext, Email: email, FirstName: name})
	return user, e.contact(tenant, user, name, email, phone)
}

const updateMyProfile = `mutation($input: UpdateMyProfileInput!) {
  updateMyProfile(input: $input) {
    user { id email fullName }
    contact { id email phone }
    identitySync { status attempts nextTryAt reason }
  }
}`

const updateUserIdentity = `mutation($id: ID!, $input: UpdateUserIdentityInput!) {
  updateUserIdentity(userId: $id, input: $input) {
    user { id email fullName }
    contact { email }
    identitySync { status attempts nextTryAt reason }
  }
}`

func provider(tenant, user uuid.UUID) *access.Scope {
	return &access.Scope{Role: access.RoleProvider, TenantID: tenant, UserID: user}
}

func (e *identityEnv) outboxRows() int {
	var n int
	if err := e.db.Get(&n, `SELECT count(*) FROM identity.outbox`); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestUpdateMyProfile(t *testing.T) {
	t.Run("PendingWithContactChanged", func(t *testing.T) {
		e := newIdentityEnv(t, identity.Options{})
		tn := e.tenant("T")
		u, _ := e.person(tn, "jane@example.com", "Jane Doe", "+442079460958")
		d := e.ok(provider(tn, u), updateMyProfile, map[string]any{"input": map[string]any{
			"email": "Jane.New@Example.COM", "phone": "+44 20 7946 0000", "fullName": "Jane Doe"}})
		p := path(d, "updateMyProfile")
		if got := path(p, "user", "email"); got != "jane@example.com" {
			t.Errorf("user.email %v: the cache must wait for the IdP", got)
		}
		if got := path(p, "contact", "email"); got != "Jane.New@example.com" {
			t.Errorf("contact.email %v", got)
		}
		if got := path(p, "contact", "phone"); got != "+442079460000" {
			t.Errorf("contact.phone %v", got)
		}
		if got := path(p, "identitySync", "status"); got != "PENDING" {
			t.Errorf("status %v", got)
		}
		if path(p, "identitySync", "nextTryAt") == nil || path(p, "identitySync", "attempts") != float64(0) {
			t.Errorf("sync %v", path(p, "identitySync"))
		}
		var row struct {
			Email    *string `db:"email"`
			FullName *string `db:"full_name"`
		}
		if err := e.db.Get(&row, `SELECT email, full_name FROM identity.outbox`); err != nil {
			t.Fatal(err)
		}
		if row.Email == nil || *row.Email != "Jane.New@example.com" || row.FullName != nil {
			t.Errorf("queued %v %v: only the changed email must go to the IdP", row.Email, row.FullName)
		}
	})
	t.Run("PhoneOnlyCausesNoIdPCall", func(t *testing.T) {
		e := newIdentityEnv(t, identity.Options{})
		tn := e.tenant("T")
		u, _ := e.person(tn, "jane@example.com", "Jane Doe", "+442079460958")
		d := e.ok(provider(tn, u), updateMyProfile, map[string]any{"input": map[string]any{"phone": "+33 1 23 45 67 89"}})
		if got := path(d, "updateMyProfile", "identitySync", "status"); got != "APPLIED" || e.outboxRows() != 0 {
			t.Errorf("status %v with %d queued", got, e.outboxRows())
		}
	})
	t.Run("BadInputNamesFieldWritesNothing", func(t *testing.T) {
		e := newIdentityEnv(t, identity.Options{})
		tn := e.tenant("T")
		u, c := e.person(tn, "jane@example.com", "Jane Doe", "+442079460958")
		for field, input := range map[string]map[string]any{
			"input.phone":    {"email": "ok@example.com", "phone": "call me"},
			"input.email":    {"email": "not-an-email", "fullName": "New Name"},
			"input.fullName": {"email": "ok@example.com", "fullName": "   "},
		} {
			r := e.query(provider(tn, u), updateMyProfile, map[string]any{"input": input})
			if r.code(t) != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != field {
				t.Errorf("%s: got %+v", field, r.Errors)
			}
		}
		var email string
		if err := e.db.Get(&email, `SELECT email FROM comms.contacts WHERE id = $1`, c); err != nil {
			t.Fatal(err)
		}
		if email != "jane@example.com" || e.outboxRows() != 0 {
			t.Errorf("half-written: contact email %q, %d queued", email, e.outboxRows())
		}
	})
	t.Run("PhoneThatIsNoValidNumberIsRefused", func(t *testing.T) {
		// One validator for profiles and contacts: a number phonenumbers does
		// not take for a valid one is refused, not stored.
		e := newIdentityEnv(t, identity.Options{})
		tn := e.tenant("T")
		u, c := e.person(tn, "jane@example.com", "Jane Doe", "+442079460958")
		for _, phone := range []string{"+4412345", "+999 1234567", "+44 20 7946 0958 9999", "+44 20 7946 O958"} {
			r := e.query(provider(tn, u), updateMyProfile, map[string]any{"input": map[string]any{"phone": phone}})
			if r.code(t) != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "input.phone" {
				t.Errorf("%q: got %+v", phone, r.Errors)
			}
		}
		var stored string
		if err := e.db.Get(&stored, `SELECT phone FROM comms.contacts WHERE id = $1`, c); err != nil || stored != "+442079460958" {
			t.Errorf("phone now %q (%v)", stored, err)
		}
	})
	t.Run("PhoneWithoutContact", func(t *testing.T) {
		e := newIdentityEnv(t, identity.Options{})
		tn := e.tenant("T")
		u := e.user(tn, "auth0-prod", "solo@example.com", "Solo")
		r := e.query(provider(tn, u), updateMyProfile, map[string]any{"input": map[string]any{"fullName": "Solo Two", "phone": "+442079460958"}})
		if r.code(t) != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "input.phone" || e.outboxRows() != 0 {
			t.Errorf("got %+v, %d queued", r.Errors, e.outboxRows())
		}
	})
	t.Run("ServiceAccountForbidden", func(t *testing.T) {
		e := newIdentityEnv(t, identity.Options{})
		r := e.query(internal(), updateMyProfile, map[string]any{"input": map[string]any{"fullName": "X"}})
		if r.code(t) != "FORBIDDEN" {
			t.Errorf("got %+v", r.Errors)
		}
	})
	t.Run("Unauthenticated", func(t *testing.T) {
		e := newIdentityEnv(t, identity.Options{})
		r := e.query(nil, updateMyProfile, map[string]any{"input": map[string]any{"fullName": "X"}})
		if r.code(t) != "UNAUTHENTICATED" {
			t.Errorf("got %+v", r.Errors)
		}
	})
}

func TestUpdateUserIdentity(t *testing.T) {
	t.Run("AdminQueuesPending", func(t *testing.T) {
		e := newIdentityEnv(t, identity.Options{})
		tn := e.tenant("T")
		u, _ := e.person(tn, "jane@example.com", "Jane Doe", "")
		d := e.ok(admin(tn), updateUserIdentity, map[string]any{"id": u, "input": map[string]any{"fullName": "Jane Smith", "email": "jane@example.com"}})
		p := path(d, "updateUserIdentity")
		if path(p, "identitySync", "status") != "PENDING" || path(p, "user", "fullName") != "Jane Doe" {
			t.Errorf("payload %v", p)
		}
		var n int
		if err := e.db.Get(&n, `SELECT count(*) FROM identity.outbox WHERE full_name = 'Jane Smith' AND email IS NULL`); err != nil || n != 1 {
			t.Errorf("queued %d (%v); want the name only", n, err)
		}
	})
	t.Run("ProviderForbidden", func(t *testing.T) {
		e := newIdentityEnv(t, identity.Options{})
		tn := e.tenant("T")
		u, _ := e.person(tn, "jane@example.com", "Jane Doe", "")
		r := e.query(provider(tn, u), updateUserIdentity, map[string]any{"id": u, "input": map[string]any{"fullName": "X"}})
		if r.code(t) != "FORBIDDEN" || e.outboxRows() != 0 {
			t.Errorf("got %+v", r.Errors)
		}
	})
	t.Run("OtherTenantNotFound", func(t *testing.T) {
		e := newIdentityEnv(t, identity.Options{})
		tn, other := e.tenant("T"), e.tenant("O")
		u, _ := e.person(tn, "jane@example.com", "Jane Doe", "")
		r := e.query(admin(other), updateUserIdentity, map[string]any{"id": u, "input": map[string]any{"fullName": "X"}})
		if r.code(t) != "NOT_FOUND" || e.outboxRows() != 0 {
			t.Errorf("got %+v", r.Errors)
		}
	})
	t.Run("BadEmail", func(t *testing.T) {
		e := newIdentityEnv(t, identity.Options{})
		tn := e.tenant("T")
		u, _ := e.person(tn, "jane@example.com", "Jane Doe", "")
		r := e.query(admin(tn), updateUserIdentity, map[string]any{"id": u, "input": map[string]any{"email": "jane@@example.com"}})
		if r.code(t) != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "input.email" {
			t.Errorf("got %+v", r.Errors)
		}
	})
	t.Run("AppliedWhenWorkersAreQuick", func(t *testing.T) {
		e := newIdentityEnv(t, identity.Options{InteractiveWait: 5 * time.Second})
		e.svc.Start(t.Context())
		defer e.svc.Stop()
		tn := e.tenant("T")
		u, _ := e.person(tn, "jane@example.com", "Jane Doe", "")
		d := e.ok(admin(tn), updateUserIdentity, map[string]any{"id": u, "input": map[string]any{"email": "j@example.org"}})
		p := path(d, "updateUserIdentity")
		if path(p, "identitySync", "status") != "APPLIED" || path(p, "user", "email") != "j@example.org" || path(p, "contact", "email") != "j@example.org" {
			t.Errorf("payload %v", p)
		}
	})
	t.Run("FailedWithReason", func(t *testing.T) {
		e := newIdentityEnv(t, identity.Options{InteractiveWait: 5 * time.Second})
		e.svc.Start(t.Context())
		defer e.svc.Stop()
		tn := e.tenant("T")
		u, _ := e.person(tn, "jane@example.com", "Jane Doe", "")
		e.fake.Put(idptest.User{ID: "someone", Email: "taken@example.com"})
		d := e.ok(admin(tn), updateUserIdentity, map[string]any{"id": u, "input": map[string]any{"email": "taken@example.com"}})
		p := path(d, "updateUserIdentity", "identitySync")
		reason, _ := path(p, "reason").(string)
		if path(p, "status") != "FAILED" || reason == "" || containsAt(reason) {
			t.Errorf("sync %v", p)
		}
	})
}

func containsAt(s string) bool {
	for _, r := range s {
		if r == '@' {
			return true
		}
	}
	return false
}

func TestIdentitySyncLag(t *testing.T) {
	e := newIdentityEnv(t, identity.Options{})
	tn := e.tenant("T")
	u, _ := e.person(tn, "jane@example.com", "Jane Doe", "")
	e.exec(`UPDATE directory.users SET synced_at = now() - interval '2 hours' WHERE id = $1`, u)
	d := e.ok(internal(), `{ identitySyncLag { idpId seconds } }`, nil)
	lag := path(d, "identitySyncLag", 0)
	if s, _ := path(lag, "seconds").(float64); path(lag, "idpId") != "auth0-prod" || s < 7200 {
		t.Errorf("lag %v", lag)
	}
	if r := e.query(admin(tn), `{ identitySyncLag { idpId } }`, nil); r.code(t) != "FORBIDDEN" {
		t.Errorf("admin got %+v", r.Errors)
	}
}
