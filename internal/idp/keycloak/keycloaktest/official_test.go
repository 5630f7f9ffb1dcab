package keycloaktest_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/propertyportal/gateway/internal/idp/idptest"
	"github.com/propertyportal/gateway/internal/idp/keycloak/keycloaktest"
)

// TestOfficialClientAgreesWithFake drives the official Keycloak admin
// client (@keycloak/keycloak-admin-client; tools/idp-clients/keycloak.mjs)
// against the fake through the calls the adapter makes, and checks both
// what the client saw and what the fake did.
func TestOfficialClientAgreesWithFake(t *testing.T) {
	idptest.NeedClients(t)
	f := keycloaktest.New(t)
	// A secret with characters that RFC 6749 (2.3.1) has form-encoded
	// before HTTP Basic, as the client sends it.
	f.SetClientSecret("kc+s3cret/with=reserved&chars %")
	env := func(mode string) map[string]string {
		return map[string]string{
			"IDP_MODE": mode, "IDP_URL": f.URL, "IDP_REALM": keycloaktest.Realm,
			"IDP_CLIENT_ID": f.ClientID, "IDP_CLIENT_SECRET": f.ClientSecret,
			"IDP_USER_ID": "k-1", "IDP_EMAIL": "new@example.com", "IDP_NAME": "Mary Ann Smith",
		}
	}

	t.Run("Calls", func(t *testing.T) {
		f.Put(idptest.User{ID: "k-1", Email: "old@example.com", FirstName: "Old", LastName: "Name"})
		f.SetAttributes("k-1", map[string]any{"department": []any{"lettings"}})
		tokensBefore := f.TokenCalls()
		out := idptest.RunClient(t, "keycloak.mjs", env("calls"))
		c := idptest.Results{T: t, Out: out}

		c.Require("token")
		if c.Num("token", "tokenLength") == 0 {
			t.Error("the client holds no access token")
		}
		if n := f.TokenCalls() - tokensBefore; n != 1 {
			t.Errorf("the fake issued %d tokens, want 1", n)
		}

		c.OK("read")
		c.Equal("read", "k-1", "user", "id")
		c.Equal("read", "old@example.com", "user", "email")
		c.Equal("read", "Old", "user", "firstName")
		c.Equal("read", "Name", "user", "lastName")
		c.Present("read", "user", "username")
		c.Present("read", "user", "attributes", "department")

		c.OK("update")
		c.OK("readUpdated")
		c.Equal("readUpdated", "new@example.com", "user", "email")
		c.Equal("readUpdated", "Mary", "user", "firstName")
		c.Equal("readUpdated", "Ann Smith", "user", "lastName")
		// The script ran to its end, so the store shows the deletion; the
		// PUT is checked in the fake's record below.

		c.OK("delete")
		if _, ok := f.Get("k-1"); ok {
			t.Error("the user is still in the fake after the client's delete")
		}
		c.OK("readDeleted")
		if v, _ := c.Get("readDeleted", "user"); v != nil {
			t.Errorf("findOne after the delete found %v, want null (a 404)", v)
		}
		// Keycloak answers 404 {"error": "User not found"} to the deletion
		// of a user that is not there.
		c.Failed("deleteAgain", 404, "NetworkError")
		c.Equal("deleteAgain", "User not found", "error", "message")

		var get, put, del int
		for _, cl := range f.Calls() {
			switch {
			case cl.Method == http.MethodGet && cl.Status == 200:
				get++
			case cl.Method == http.MethodPut && cl.Status == 204:
				put++
				keys := make([]string, 0, len(cl.Body))
				for k := range cl.Body {
					keys = append(keys, k)
				}
				for _, k := range []string{"email", "firstName", "lastName", "attributes", "username"} {
					if !slices.Contains(keys, k) {
						t.Errorf("the PUT body lacks %s: %s", k, strings.Join(keys, ","))
					}
				}
				if cl.UserID != "k-1" || cl.Body["email"] != "new@example.com" || cl.Body["firstName"] != "Mary" || cl.Body["lastName"] != "Ann Smith" {
					t.Errorf("the PUT sent %s %v", cl.Path, cl.Body)
				}
				if a, _ := cl.Body["attributes"].(map[string]any); a["department"] == nil {
					t.Errorf("the whole-representation PUT lost the attributes: %v", cl.Body["attributes"])
				}
			case cl.Method == http.MethodDelete && cl.Status == 204:
				del++
			}
		}
		if get < 3 || put != 1 || del != 1 {
			t.Errorf("the fake recorded %d reads, %d PUTs, %d deletes: %+v", get, put, del, f.Calls())
		}
	})

	t.Run("RateLimited", func(t *testing.T) {
		f.Put(idptest.User{ID: "k-1", Email: "a@example.com"})
		f.SetRate(2)
		defer f.SetRate(0)
		before := f.Count429()
		out := idptest.RunClient(t, "keycloak.mjs", env("ratelimit"))
		c := idptest.Results{T: t, Out: out}
		c.Failed("refused", 429, "NetworkError")
		c.Equal("refused", "1", "error", "headers", "retry-after")
		c.Equal("refused", "too_many_requests", "error", "body", "error")
		if f.Count429() == before {
			t.Error("the fake served no 429")
		}
	})

	t.Run("Invite", func(t *testing.T) {
		e := env("invite")
		e["IDP_EMAIL"] = "invitee@example.com"
		out := idptest.RunClient(t, "keycloak.mjs", e)
		c := idptest.Results{T: t, Out: out}
		c.Require("token")

		c.OK("findNone")
		if u, _ := c.Get("findNone", "users"); u == nil || len(u.([]any)) != 0 {
			t.Errorf("find before the create answered %v, want []", u)
		}
		c.Require("create")
		id := c.Str("create", "id")
		u, ok := f.Get(id)
		if id == "" || !ok || u.Email != "invitee@example.com" || u.FirstName != "Mary" || u.LastName != "Ann Smith" || u.EmailVerified {
			t.Fatalf("the client read id %q from Location; the fake holds %+v (%v)", id, u, ok)
		}
		c.OK("executeActionsEmail")
		if sent := f.SentTo(id); len(sent) != 1 || !slices.Equal(sent[0].Actions, []string{"UPDATE_PASSWORD", "VERIFY_EMAIL"}) {
			t.Errorf("the fake sent %+v", f.SentEmails())
		}
		c.OK("findOne")
		found, _ := c.Get("findOne", "users")
		if us, _ := found.([]any); len(us) != 1 || us[0].(map[string]any)["id"] != id || us[0].(map[string]any)["emailVerified"] != false {
			t.Errorf("find after the create answered %v, want %s unverified", found, id)
		}
		c.Failed("createAgain", 409, "")
		calls := f.CallsFor(id)
		if len(calls) != 2 || calls[0].Method != http.MethodPost || calls[0].Status != 201 ||
			calls[1].Path != "/admin/realms/"+keycloaktest.Realm+"/users/"+id+"/execute-actions-email" || calls[1].Status != 204 {
			t.Errorf("the fake recorded %+v", calls)
		}
	})
}
