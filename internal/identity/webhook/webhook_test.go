package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/comms"
	"github.com/propertyportal/gateway/internal/directory"
	"github.com/propertyportal/gateway/internal/identity"
	"github.com/propertyportal/gateway/internal/identity/webhook"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/delivery"
	"github.com/propertyportal/gateway/internal/idp/keycloak"
	"github.com/propertyportal/gateway/internal/idp/oidc"
	"github.com/propertyportal/gateway/internal/idp/providers"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
	"github.com/propertyportal/gateway/internal/privacy"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const secret = "0123456789abcdef-webhook-secret"

// now is the fixed clock of every test: deliveries are dated around it.
var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

type env struct {
	t   *testing.T
	db  *sqlx.DB
	srv *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := pgtest.DB(t)
	var cfgs []idp.Config
	for _, k := range []idp.Kind{idp.KindAuth0, idp.KindKeycloak, idp.KindEntra, idp.KindOIDC} {
		c := idp.Config{ID: string(k) + "-test", Kind: k, Issuer: "https://" + string(k) + ".example.com/", Audiences: []string{"portal"},
			Tenant: uuid.NewString(), RolesClaim: "roles", Webhook: &idp.WebhookConfig{SecretEnv: "WEBHOOK_SECRET"}}
		if err := providers.Normalize(&c); err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, c)
	}
	cfgs = append(cfgs, idp.Config{ID: "no-webhook", Kind: idp.KindOIDC})
	dir := directory.NewStore(db)
	// Deletions are erasures, which cancel the user's queued identity
	// changes through the outbox.
	changes := privacy.Changes{Erasure: &privacy.Service{DB: db, Identity: identity.New(db, dir, comms.NewStore(db), nil, identity.Options{})}, Directory: dir}
	h, err := webhook.New(cfgs, func(string) string { return secret }, changes, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h.SetClock(func() time.Time { return now })
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/{idp_id}", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, srv: srv}
}

// user makes a pointer user of idpID synced at syncedAt.
func (e *env) user(idpID, external string, syncedAt time.Time) uuid.UUID {
	e.t.Helper()
	tenant, id := uuid.New(), uuid.New()
	if _, err := e.db.Exec(`INSERT INTO directory.tenants (id, name) VALUES ($1, 'T')`, tenant); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.db.Exec(`INSERT INTO directory.users (id, tenant_id, idp_id, external_id, email, full_name, synced_at)
		VALUES ($1, $2, $3, $4, 'old@example.com', 'Old Name', $5)`, id, tenant, idpID, external, syncedAt); err != nil {
		e.t.Fatal(err)
	}
	return id
}

type cached struct {
	Email    *string    `db:"email"`
	FullName *string    `db:"full_name"`
	SyncedAt *time.Time `db:"synced_at"`
	ErasedAt *time.Time `db:"erased_at"`
}

func (e *env) cache(id uuid.UUID) cached {
	e.t.Helper()
	var c cached
	if err := e.db.Get(&c, `SELECT email, full_name, synced_at, erased_at FROM directory.users WHERE id = $1`, id); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// post delivers body with headers and returns the status and summary.
func (e *env) post(path string, body []byte, headers map[string]string) (int, map[string]int) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	sum := map[string]int{}
	_ = json.NewDecoder(res.Body).Decode(&sum)
	return res.StatusCode, sum
}

func generic(ev map[string]any, ts time.Time) ([]byte, map[string]string) {
	body, _ := json.Marshal(ev)
	t := strconv.FormatInt(ts.Unix(), 10)
	return body, map[string]string{oidc.TimestampHeader: t, oidc.SignatureHeader: oidc.Sign([]byte(secret), t, body)}
}

func genericEvent(id, typ, user string, at time.Time, email string) map[string]any {
	return map[string]any{"id": id, "type": typ, "occurred_at": at.Format(time.RFC3339Nano),
		"user": map[string]any{"id": user, "email": email, "name": "New Name"}}
}

func TestGeneric(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	path := "/webhooks/oidc-test"
	id := e.user("oidc-test", "sub-1", now.Add(-time.Hour))

	body, h := generic(genericEvent("evt-1", "user.updated", "sub-1", now.Add(-time.Minute), "new@example.com"), now)
	if code, sum := e.post(path, body, h); code != http.StatusOK || sum["applied"] != 1 {
		t.Fatalf("status %d summary %v", code, sum)
	}
	c := e.cache(id)
	if *c.Email != "new@example.com" || *c.FullName != "New Name" || !c.SyncedAt.Equal(now.Add(-time.Minute)) {
		t.Fatalf("cache = %+v", c)
	}

	t.Run("RedeliveryIsAppliedOnce", func(t *testing.T) {
		e.db.MustExec(`UPDATE directory.users SET email = 'changed@example.com', synced_at = $2 WHERE id = $1`, id, now.Add(-2*time.Hour))
		if code, sum := e.post(path, body, h); code != http.StatusOK || sum["duplicate"] != 1 {
			t.Fatalf("status %d summary %v", code, sum)
		}
		if c := e.cache(id); *c.Email != "changed@example.com" {
			t.Fatal("a redelivered event was applied again")
		}
	})

	t.Run("OutOfOrderIsIgnored", func(t *testing.T) {
		e.db.MustExec(`UPDATE directory.users SET email = 'current@example.com', synced_at = $2 WHERE id = $1`, id, now.Add(-time.Minute))
		body, h := generic(genericEvent("evt-older", "user.updated", "sub-1", now.Add(-2*time.Minute), "older@example.com"), now)
		if code, sum := e.post(path, body, h); code != http.StatusOK || sum["outdated"] != 1 {
			t.Fatalf("status %d summary %v", code, sum)
		}
		if c := e.cache(id); *c.Email != "current@example.com" {
			t.Fatalf("an older event overwrote the cache: %v", *c.Email)
		}
	})

	t.Run("ErrForgedSignature", func(t *testing.T) {
		body, h := generic(genericEvent("evt-forged", "user.updated", "sub-1", now, "evil@example.com"), now)
		h[oidc.SignatureHeader] = oidc.Sign([]byte("not-the-secret-at-all"), h[oidc.TimestampHeader], body)
		if code, _ := e.post(path, body, h); code != http.StatusUnauthorized {
			t.Fatalf("status %d", code)
		}
		tampered := bytes.Replace(body, []byte("evil"), []byte("evel"), 1)
		_, h = generic(genericEvent("evt-forged", "user.updated", "sub-1", now, "evil@example.com"), now)
		if code, _ := e.post(path, tampered, h); code != http.StatusUnauthorized {
			t.Fatalf("tampered body: status %d", code)
		}
		delete(h, oidc.SignatureHeader)
		if code, _ := e.post(path, body, h); code != http.StatusUnauthorized {
			t.Fatalf("unsigned: status %d", code)
		}
	})

	t.Run("ErrReplayOutsideWindow", func(t *testing.T) {
		body, h := generic(genericEvent("evt-replay", "user.updated", "sub-1", now, "replay@example.com"), now.Add(-6*time.Minute))
		if code, _ := e.post(path, body, h); code != http.StatusUnauthorized {
			t.Fatalf("status %d", code)
		}
		body, h = generic(genericEvent("evt-future", "user.updated", "sub-1", now, "replay@example.com"), now.Add(6*time.Minute))
		if code, _ := e.post(path, body, h); code != http.StatusUnauthorized {
			t.Fatalf("future: status %d", code)
		}
		if c := e.cache(id); *c.Email == "replay@example.com" {
			t.Fatal("a replay was applied")
		}
	})

	t.Run("FutureEventIsRefused", func(t *testing.T) {
		body, h := generic(genericEvent("evt-far", "user.updated", "sub-1", now.Add(time.Hour), "future@example.com"), now)
		if _, sum := e.post(path, body, h); sum["outside_window"] != 1 {
			t.Fatalf("summary %v", sum)
		}
	})

	t.Run("Prune", func(t *testing.T) {
		var before int
		_ = e.db.Get(&before, `SELECT count(*) FROM directory.webhook_events`)
		n, err := directory.NewStore(e.db).PruneWebhookEvents(context.Background(), time.Now().Add(time.Minute))
		if err != nil || n != int64(before) || before == 0 {
			t.Fatalf("pruned %d of %d: %v", n, before, err)
		}
	})

	t.Run("ErrMalformed", func(t *testing.T) {
		body := []byte(`{"id": ""}`)
		ts := strconv.FormatInt(now.Unix(), 10)
		h := map[string]string{oidc.TimestampHeader: ts, oidc.SignatureHeader: oidc.Sign([]byte(secret), ts, body)}
		if code, _ := e.post(path, body, h); code != http.StatusBadRequest {
			t.Fatalf("status %d", code)
		}
	})

	t.Run("Deleted", func(t *testing.T) {
		body, h := generic(genericEvent("evt-del", "user.deleted", "sub-1", now.Add(-3*time.Hour), ""), now)
		if code, sum := e.post(path, body, h); code != http.StatusOK || sum["applied"] != 1 {
			t.Fatalf("status %d summary %v", code, sum)
		}
		c := e.cache(id)
		if c.Email != nil || c.FullName != nil || c.ErasedAt == nil {
			t.Fatalf("deleted user keeps PII: %+v", c)
		}
		body, h = generic(genericEvent("evt-after", "user.updated", "sub-1", now, "back@example.com"), now)
		if _, sum := e.post(path, body, h); sum["erased_user"] != 1 {
			t.Fatalf("summary %v", sum)
		}
		if c := e.cache(id); c.Email != nil {
			t.Fatal("an update wrote PII back into an erased user")
		}
	})

	t.Run("UnknownUserAndAdapter", func(t *testing.T) {
		body, h := generic(genericEvent("evt-unknown", "user.updated", "nobody", now, "x@example.com"), now)
		if _, sum := e.post(path, body, h); sum["unknown_user"] != 1 {
			t.Fatalf("summary %v", sum)
		}
		for _, p := range []string{"/webhooks/no-webhook", "/webhooks/nope"} {
			if code, _ := e.post(p, body, h); code != http.StatusNotFound {
				t.Fatalf("%s: status %d", p, code)
			}
		}
	})
}

func TestAuth0(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	path := "/webhooks/auth0-test"
	auth := map[string]string{"Authorization": secret, "Content-Type": "application/json"}
	id := e.user("auth0-test", "auth0|abc123", now.Add(-time.Hour))
	gone := e.user("auth0-test", "auth0|gone", now.Add(-time.Hour))

	logEvent := func(logID, method, user string, at time.Time, resp string) map[string]any {
		return map[string]any{"log_id": logID, "data": map[string]any{
			"log_id": logID, "date": at.Format(time.RFC3339Nano), "type": "sapi", "description": "Update a user",
			"details": map[string]any{
				"request":  map[string]any{"method": method, "path": "/api/v2/users/" + url.PathEscape(user), "body": map[string]any{"email": "req@example.com"}},
				"response": map[string]any{"statusCode": 200, "body": json.RawMessage(resp)},
			}}}
	}
	update := logEvent("900001", "patch", "auth0|abc123", now.Add(-time.Minute),
		`{"user_id":"auth0|abc123","email":"jane@example.com","name":"Jane Doe"}`)
	login := map[string]any{"log_id": "900002", "data": map[string]any{"log_id": "900002", "date": now.Format(time.RFC3339), "type": "s", "user_id": "auth0|abc123"}}
	deletion := map[string]any{"log_id": "900003", "data": map[string]any{"log_id": "900003", "date": now.Format(time.RFC3339), "type": "sdu", "user_id": "auth0|gone"}}

	t.Run("JSONArray", func(t *testing.T) {
		body, _ := json.Marshal([]any{update, login, deletion})
		code, sum := e.post(path, body, auth)
		if code != http.StatusOK || sum["applied"] != 2 {
			t.Fatalf("status %d summary %v", code, sum)
		}
		if c := e.cache(id); *c.Email != "jane@example.com" || *c.FullName != "Jane Doe" {
			t.Fatalf("cache = %+v", c)
		}
		if c := e.cache(gone); c.ErasedAt == nil || c.Email != nil {
			t.Fatalf("deleted user = %+v", c)
		}
	})

	t.Run("JSONLinesRedeliveredAndLate", func(t *testing.T) {
		late := logEvent("900004", "patch", "auth0|abc123", now.Add(-10*time.Minute), `{"user_id":"auth0|abc123","email":"late@example.com"}`)
		var lines []string
		for _, ev := range []any{update, late} {
			b, _ := json.Marshal(ev)
			lines = append(lines, string(b))
		}
		code, sum := e.post(path, []byte(strings.Join(lines, "\n")), auth)
		if code != http.StatusOK || sum["duplicate"] != 1 || sum["outside_window"] != 1 {
			t.Fatalf("status %d summary %v", code, sum)
		}
	})

	t.Run("DeleteThroughManagementAPI", func(t *testing.T) {
		other := e.user("auth0-test", "auth0|del2", now.Add(-time.Hour))
		body, _ := json.Marshal(logEvent("900005", "delete", "auth0|del2", now, `{}`))
		if code, sum := e.post(path, body, auth); code != http.StatusOK || sum["applied"] != 1 {
			t.Fatalf("status %d summary %v", code, sum)
		}
		if c := e.cache(other); c.ErasedAt == nil {
			t.Fatal("not erased")
		}
	})

	t.Run("ErrWrongToken", func(t *testing.T) {
		body, _ := json.Marshal([]any{update})
		for _, tok := range []string{"", "Bearer " + secret, secret + "x"} {
			if code, _ := e.post(path, body, map[string]string{"Authorization": tok}); code != http.StatusUnauthorized {
				t.Fatalf("token %q: status %d", tok, code)
			}
		}
	})
}

func TestKeycloak(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	path := "/webhooks/keycloak-test"
	user := uuid.NewString()
	id := e.user("keycloak-test", user, now.Add(-time.Hour))
	event := func(uid, typ string, at time.Time, rep string) []byte {
		b, _ := json.Marshal(map[string]any{"uid": uid, "time": at.UnixMilli(), "type": typ, "realmId": "portal",
			"resourcePath": "users/" + user, "operationType": "UPDATE", "resourceType": "USER", "representation": rep})
		return b
	}
	sign := func(b []byte) map[string]string {
		return map[string]string{keycloak.SignatureHeader: keycloak.Sign([]byte(secret), b)}
	}

	body := event("kc-1", "admin.USER-UPDATE", now, `{"email":"kc@example.com","firstName":"Kay","lastName":"Cloak"}`)
	if code, sum := e.post(path, body, sign(body)); code != http.StatusOK || sum["applied"] != 1 {
		t.Fatalf("status %d summary %v", code, sum)
	}
	if c := e.cache(id); *c.Email != "kc@example.com" || *c.FullName != "Kay Cloak" {
		t.Fatalf("cache %+v", c)
	}
	t.Run("ErrForged", func(t *testing.T) {
		forged := event("kc-2", "admin.USER-UPDATE", now, `{"email":"evil@example.com"}`)
		if code, _ := e.post(path, forged, sign(body)); code != http.StatusUnauthorized {
			t.Fatalf("status %d", code)
		}
		if code, _ := e.post(path, forged, nil); code != http.StatusUnauthorized {
			t.Fatalf("unsigned: status %d", code)
		}
	})
	t.Run("ReplayOutsideWindowIsRefused", func(t *testing.T) {
		old := event("kc-3", "admin.USER-UPDATE", now.Add(-time.Hour), `{"email":"old@example.com"}`)
		if _, sum := e.post(path, old, sign(old)); sum["outside_window"] != 1 {
			t.Fatalf("summary %v", sum)
		}
	})
	t.Run("ProfileUpdateMarksStale", func(t *testing.T) {
		b, _ := json.Marshal(map[string]any{"uid": "kc-4", "time": now.Add(time.Second).UnixMilli(), "type": "access.UPDATE_PROFILE",
			"authDetails": map[string]any{"userId": user}})
		if _, sum := e.post(path, b, map[string]string{keycloak.SignatureHeader: "sha256=" + keycloak.Sign([]byte(secret), b)}); sum["applied"] != 1 {
			t.Fatalf("summary %v", sum)
		}
		if c := e.cache(id); c.SyncedAt != nil {
			t.Fatal("not marked for a refresh")
		}
	})
	t.Run("Deleted", func(t *testing.T) {
		b := event("kc-5", "admin.USER-DELETE", now, "")
		if _, sum := e.post(path, b, sign(b)); sum["applied"] != 1 {
			t.Fatalf("summary %v", sum)
		}
		if c := e.cache(id); c.ErasedAt == nil || c.Email != nil {
			t.Fatalf("cache %+v", c)
		}
	})
}

func TestEntra(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	path := "/webhooks/entra-test"
	oid := uuid.NewString()
	id := e.user("entra-test", oid, now.Add(-time.Hour))

	t.Run("ValidationHandshake", func(t *testing.T) {
		token := "Validation: Token <&> " + uuid.NewString()
		res, err := http.Post(e.srv.URL+path+"?validationToken="+url.QueryEscape(token), "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		got, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK || string(got) != token || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("status %d type %q body %q", res.StatusCode, res.Header.Get("Content-Type"), got)
		}
	})

	note := func(nid, state, change string) map[string]any {
		return map[string]any{"id": nid, "subscriptionId": "sub-1", "clientState": state, "changeType": change,
			"resource": "Users/" + oid, "tenantId": uuid.NewString(),
			"resourceData": map[string]any{"@odata.type": "#Microsoft.Graph.User", "@odata.id": "Users/" + oid, "id": oid}}
	}
	t.Run("ErrClientStateMismatch", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"value": []any{note("n-0", secret, "updated"), note("n-1", "guess", "deleted")}})
		if code, _ := e.post(path, body, nil); code != http.StatusUnauthorized {
			t.Fatalf("status %d", code)
		}
		if c := e.cache(id); c.ErasedAt != nil || c.SyncedAt == nil {
			t.Fatal("a forged delivery was applied")
		}
	})
	t.Run("UpdatedMarksStale", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"value": []any{note("n-2", secret, "updated")}})
		if code, sum := e.post(path, body, nil); code != http.StatusAccepted || sum["applied"] != 1 {
			t.Fatalf("status %d summary %v", code, sum)
		}
		if c := e.cache(id); c.SyncedAt != nil || c.Email == nil {
			t.Fatalf("cache %+v", c)
		}
		if _, sum := e.post(path, body, nil); sum["duplicate"] != 1 {
			t.Fatalf("redelivery: %v", sum)
		}
	})
	t.Run("Deleted", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"value": []any{note("n-3", secret, "deleted")}})
		if code, sum := e.post(path, body, nil); code != http.StatusAccepted || sum["applied"] != 1 {
			t.Fatalf("status %d summary %v", code, sum)
		}
		if c := e.cache(id); c.ErasedAt == nil || c.Email != nil || c.FullName != nil {
			t.Fatalf("cache %+v", c)
		}
	})
}

func TestConfig(t *testing.T) {
	t.Parallel()
	base := func(w *idp.WebhookConfig) idp.Config {
		return idp.Config{ID: "x", Kind: idp.KindOIDC, Issuer: "https://x.example.com/", Audiences: []string{"a"},
			Tenant: uuid.NewString(), Webhook: w}
	}
	for _, w := range []*idp.WebhookConfig{
		{},
		{Secret: "short"},
		{Secret: secret, SecretEnv: "X"},
		{Secret: secret, ReplayWindow: idp.Duration(-time.Second)},
	} {
		c := base(w)
		if err := providers.Normalize(&c); err == nil || !strings.Contains(err.Error(), "webhook") {
			t.Errorf("%+v: err = %v", w, err)
		}
	}
	c := base(&idp.WebhookConfig{SecretEnv: "UNSET"})
	if err := providers.Normalize(&c); err != nil {
		t.Fatal(err)
	}
	if _, err := webhook.New([]idp.Config{c}, func(string) string { return "" }, nil, slog.Default()); err == nil {
		t.Fatal("an empty secret opened the endpoint")
	}
	doc := fmt.Sprintf("idps:\n  - id: kc\n    kind: keycloak\n    issuer: https://kc.example.com/realms/p\n    audiences: [portal]\n    tenant: %s\n    webhook:\n      secret_env: KC_WEBHOOK_SECRET\n      replay_window: 10m\n", uuid.NewString())
	cfgs, err := providers.Parse([]byte(doc))
	if err != nil || cfgs[0].Webhook == nil || time.Duration(cfgs[0].Webhook.ReplayWindow) != 10*time.Minute {
		t.Fatalf("cfgs %+v err %v", cfgs, err)
	}
}

// TestConcurrentRedeliveries: one event delivered many times at once is
// applied exactly once.
func TestConcurrentRedeliveries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user("oidc-test", "sub-c", now.Add(-time.Hour))
	body, h := generic(genericEvent("evt-c", "user.updated", "sub-c", now, "c@example.com"), now)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := map[string]int{}
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, sum := e.post("/webhooks/oidc-test", body, h)
			mu.Lock()
			defer mu.Unlock()
			total[strconv.Itoa(code)]++
			for k, v := range sum {
				total[k] += v
			}
		}()
	}
	wg.Wait()
	if total["200"] != 20 || total["applied"] != 1 || total["duplicate"] != 19 {
		t.Fatalf("outcomes %v", total)
	}
}

// TestFutureEventIsRefused: an event dated later than now plus the clock
// skew, though inside the replay window, is refused as a too-old one is,
// and is not applied; the genuine event that follows it is. A time within
// the skew is accepted.
func TestFutureEventIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	future := now.Add(3 * time.Minute) // inside the 5-minute window, beyond the skew
	if future.Sub(now) <= delivery.ClockSkew || future.Sub(now) >= 5*time.Minute {
		t.Fatalf("the test's future time must lie between the skew (%s) and the window", delivery.ClockSkew)
	}

	t.Run("Auth0", func(t *testing.T) {
		path := "/webhooks/auth0-test"
		auth := map[string]string{"Authorization": secret}
		id := e.user("auth0-test", "auth0|future", now.Add(-time.Hour))
		ev := func(logID string, at time.Time, email string) []byte {
			b, _ := json.Marshal([]any{map[string]any{"log_id": logID, "data": map[string]any{
				"log_id": logID, "date": at.Format(time.RFC3339Nano), "type": "sapi",
				"details": map[string]any{
					"request":  map[string]any{"method": "patch", "path": "/api/v2/users/" + url.PathEscape("auth0|future")},
					"response": map[string]any{"body": map[string]any{"user_id": "auth0|future", "email": email}},
				}}}})
			return b
		}
		if code, sum := e.post(path, ev("fut-1", future, "future@example.com"), auth); code != http.StatusOK || sum["outside_window"] != 1 {
			t.Fatalf("future event: status %d summary %v", code, sum)
		}
		if c := e.cache(id); *c.Email == "future@example.com" {
			t.Fatal("a future event was applied")
		}
		if code, sum := e.post(path, ev("fut-2", now, "genuine@example.com"), auth); code != http.StatusOK || sum["applied"] != 1 {
			t.Fatalf("genuine event: status %d summary %v", code, sum)
		}
		if c := e.cache(id); *c.Email != "genuine@example.com" {
			t.Fatalf("the genuine event was not applied: %v", *c.Email)
		}
		if _, sum := e.post(path, ev("fut-3", now.Add(delivery.ClockSkew/2), "skewed@example.com"), auth); sum["applied"] != 1 {
			t.Fatalf("an event within the skew: summary %v", sum)
		}
	})

	t.Run("Keycloak", func(t *testing.T) {
		path := "/webhooks/keycloak-test"
		user := uuid.NewString()
		id := e.user("keycloak-test", user, now.Add(-time.Hour))
		ev := func(uid string, at time.Time, email string) ([]byte, map[string]string) {
			b, _ := json.Marshal(map[string]any{"uid": uid, "time": at.UnixMilli(), "type": "admin.USER-UPDATE",
				"resourcePath": "users/" + user, "representation": `{"email":"` + email + `"}`})
			return b, map[string]string{keycloak.SignatureHeader: keycloak.Sign([]byte(secret), b)}
		}
		b, h := ev("kc-fut-1", future, "future@example.com")
		if code, sum := e.post(path, b, h); code != http.StatusOK || sum["outside_window"] != 1 {
			t.Fatalf("future event: status %d summary %v", code, sum)
		}
		if c := e.cache(id); *c.Email == "future@example.com" {
			t.Fatal("a future event was applied")
		}
		b, h = ev("kc-fut-2", now, "genuine@example.com")
		if code, sum := e.post(path, b, h); code != http.StatusOK || sum["applied"] != 1 {
			t.Fatalf("genuine event: status %d summary %v", code, sum)
		}
		if c := e.cache(id); *c.Email != "genuine@example.com" {
			t.Fatalf("the genuine event was not applied: %v", *c.Email)
		}
	})

	t.Run("GenericTimestamp", func(t *testing.T) {
		path := "/webhooks/oidc-test"
		id := e.user("oidc-test", "sub-fut-ts", now.Add(-time.Hour))
		body, h := generic(genericEvent("g-fut-ts", "user.updated", "sub-fut-ts", now.Add(-time.Second), "future@example.com"), future)
		if code, _ := e.post(path, body, h); code != http.StatusUnauthorized {
			t.Fatalf("future timestamp: status %d, want %d as for a too-old one", code, http.StatusUnauthorized)
		}
		if c := e.cache(id); *c.Email == "future@example.com" {
			t.Fatal("a delivery stamped in the future was applied")
		}
		body, h = generic(genericEvent("g-fut-ts", "user.updated", "sub-fut-ts", now.Add(-time.Second), "genuine@example.com"), now)
		if code, sum := e.post(path, body, h); code != http.StatusOK || sum["applied"] != 1 {
			t.Fatalf("genuine event: status %d summary %v", code, sum)
		}
	})

	t.Run("GenericOccurredAt", func(t *testing.T) {
		path := "/webhooks/oidc-test"
		id := e.user("oidc-test", "sub-fut-at", now.Add(-time.Hour))
		body, h := generic(genericEvent("g-fut-at-1", "user.updated", "sub-fut-at", future, "future@example.com"), now)
		if code, sum := e.post(path, body, h); code != http.StatusOK || sum["outside_window"] != 1 {
			t.Fatalf("future event: status %d summary %v", code, sum)
		}
		if c := e.cache(id); *c.Email == "future@example.com" {
			t.Fatal("a future event was applied")
		}
		body, h = generic(genericEvent("g-fut-at-2", "user.updated", "sub-fut-at", now, "genuine@example.com"), now)
		if code, sum := e.post(path, body, h); code != http.StatusOK || sum["applied"] != 1 {
			t.Fatalf("genuine event: status %d summary %v", code, sum)
		}
		if c := e.cache(id); *c.Email != "genuine@example.com" {
			t.Fatalf("the genuine event was not applied: %v", *c.Email)
		}
	})
}

// TestPruneEventsRunsOnSchedule: PruneEvents forgets, on every tick, the
// event ids received longer ago than the retention, keeps the younger ones,
// and returns when its context ends.
func TestPruneEventsRunsOnSchedule(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	event := func(id string, age time.Duration) {
		t.Helper()
		db.MustExec(`INSERT INTO directory.webhook_events (idp_id, event_id, occurred_at, received_at, outcome)
			VALUES ('prune-test', $1, now() - $2::interval, now() - $2::interval, 'applied')`, id, age.String())
	}
	has := func(id string) bool {
		t.Helper()
		var n int
		if err := db.Get(&n, `SELECT count(*) FROM directory.webhook_events WHERE idp_id = 'prune-test' AND event_id = $1`, id); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	waitGone := func(id string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); has(id); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("event %s older than the retention was not pruned", id)
			}
		}
	}
	event("old", 2*time.Hour)
	event("just-old", 2*time.Minute)
	event("young", 10*time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		webhook.PruneEvents(ctx, directory.NewStore(db), time.Minute, 20*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	waitGone("old")
	waitGone("just-old")
	// A later tick prunes what has aged since.
	event("later", time.Hour)
	waitGone("later")
	if !has("young") {
		t.Fatal("an event younger than the retention was pruned")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("PruneEvents did not return when its context ended")
	}
	event("after-stop", time.Hour)
	time.Sleep(100 * time.Millisecond)
	if !has("after-stop") {
		t.Fatal("pruning went on after the context ended")
	}
}
