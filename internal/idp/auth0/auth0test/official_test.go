package auth0test_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/idp/auth0/auth0test"
	"github.com/propertyportal/gateway/internal/idp/idptest"
)

// TestOfficialClientAgreesWithFake drives the official Auth0 Management
// API client (npm auth0, ManagementClient; tools/idp-clients/auth0.mjs)
// against the fake through the calls the adapter makes, and checks both
// what the client saw and what the fake did.
func TestOfficialClientAgreesWithFake(t *testing.T) {
	idptest.NeedClients(t)
	f := auth0test.NewTLS(t)
	env := func(mode string) map[string]string {
		return map[string]string{
			"IDP_MODE": mode, "IDP_URL": f.URL, "NODE_EXTRA_CA_CERTS": idptest.CertFile(t, f.Server),
			"IDP_CLIENT_ID": f.ClientID, "IDP_CLIENT_SECRET": f.ClientSecret,
			"IDP_USER_ID": "auth0|abc123", "IDP_EMAIL": "new@example.com", "IDP_NAME": "Jane Doe",
		}
	}

	t.Run("Calls", func(t *testing.T) {
		f.Put(idptest.User{ID: "auth0|abc123", Email: "old@example.com", FirstName: "Old Name"})
		f.SetRate(100) // quota headers on every answer, as Auth0 sends them
		defer f.SetRate(0)
		tokensBefore := f.TokenCalls()
		out := idptest.RunClient(t, "auth0.mjs", env("calls"))
		c := idptest.Results{T: t, Out: out}

		c.Require("token")
		if n := c.Num("token", "expiresInS"); n < 3500 || n > 3600 {
			t.Errorf("token expires in %v s, want about an hour", n)
		}
		// One token for the explicit token step, one for ManagementClient.
		if n := f.TokenCalls() - tokensBefore; n != 2 {
			t.Errorf("the fake issued %d tokens, want 2", n)
		}

		c.OK("read")
		c.Equal("read", "auth0|abc123", "user", "user_id")
		c.Equal("read", "old@example.com", "user", "email")
		c.Equal("read", "Old Name", "user", "name")
		c.Equal("read", "application/json", "headers", "content-type")
		for _, h := range []string{"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} {
			c.Present("read", "headers", h)
		}

		c.OK("update")
		c.Equal("update", float64(200), "status")
		c.Equal("update", "new@example.com", "user", "email")
		c.Equal("update", "Jane Doe", "user", "name")
		c.OK("readUpdated")
		c.Equal("readUpdated", "new@example.com", "user", "email")
		c.Equal("readUpdated", "Jane Doe", "user", "name")
		// fields=user_id,email,name&include_fields=true: those and no others.
		if u, _ := c.Get("readUpdated", "user"); len(u.(map[string]any)) != 3 {
			t.Errorf("read with fields answered %v, want user_id, email and name only", u)
		}
		// The Management API takes every root attribute the client's
		// UpdateUserRequestContent lists, nickname among them.
		c.OK("updateNickname")
		c.Equal("updateNickname", float64(200), "status")
		c.Equal("updateNickname", "jd", "nickname")

		c.OK("delete")
		c.Equal("delete", float64(204), "status")
		if _, ok := f.Get("auth0|abc123"); ok {
			t.Error("the user is still in the fake after the client's delete")
		}
		c.Failed("readDeleted", 404, "NotFoundError")
		c.Equal("readDeleted", "inexistent_user", "error", "body", "errorCode")
		// DELETE /api/v2/users/{id} documents 204, 400, 401, 403 and 429
		// only: a user already gone is no error.
		c.OK("deleteAgain")
		c.Equal("deleteAgain", float64(204), "status")

		var update, del, get bool
		for _, cl := range f.Calls() {
			switch {
			case cl.Method == http.MethodPatch && cl.Status == 200:
				update = update || cl.Path == "/api/v2/users/auth0|abc123" && len(cl.Body) == 2 && cl.Body["email"] == "new@example.com" && cl.Body["name"] == "Jane Doe"
			case cl.Method == http.MethodDelete && cl.Status == 204:
				del = cl.UserID == "auth0|abc123"
			case cl.Method == http.MethodGet && cl.Status == 200:
				get = true
			}
		}
		if !update || !del || !get {
			t.Errorf("the fake recorded update %v, delete %v, read %v: %+v", update, del, get, f.Calls())
		}
	})

	t.Run("RateLimited", func(t *testing.T) {
		f.Put(idptest.User{ID: "auth0|abc123", Email: "a@example.com"})
		f.SetRate(2)
		defer f.SetRate(0)
		before := f.Count429()
		out := idptest.RunClient(t, "auth0.mjs", env("ratelimit"))
		c := idptest.Results{T: t, Out: out}
		c.Failed("refused", 429, "TooManyRequestsError")
		c.Equal("refused", "too_many_requests", "error", "body", "errorCode")
		c.Equal("refused", float64(429), "error", "body", "statusCode")
		c.Equal("refused", "2", "error", "headers", "x-ratelimit-limit")
		c.Equal("refused", "0", "error", "headers", "x-ratelimit-remaining")
		reset, err := strconv.ParseInt(c.Str("refused", "error", "headers", "x-ratelimit-reset"), 10, 64)
		if now := time.Now().Unix(); err != nil || reset < now-5 || reset > now+5 {
			t.Errorf("X-RateLimit-Reset %d is not a Unix time near now (%d): %v", reset, now, err)
		}
		c.OK("retried")
		c.Equal("retried", float64(200), "status")
		if f.Count429() == before {
			t.Error("the fake served no 429")
		}
	})

	t.Run("Invite", func(t *testing.T) {
		f.SetRate(100)
		defer f.SetRate(0)
		e := env("invite")
		e["IDP_EMAIL"], e["IDP_NAME"], e["IDP_CONNECTION"] = "invitee@example.com", "Ivy Invitee", f.Connection
		e["IDP_PASSWORD"] = "Aa1!correct-horse-battery-staple"
		out := idptest.RunClient(t, "auth0.mjs", e)
		c := idptest.Results{T: t, Out: out}

		c.OK("findNone")
		c.Equal("findNone", float64(200), "status")
		if u, _ := c.Get("findNone", "users"); u == nil || len(u.([]any)) != 0 {
			t.Errorf("users-by-email before the create answered %v, want []", u)
		}
		c.Require("create")
		c.Equal("create", float64(201), "status")
		c.Equal("create", "invitee@example.com", "user", "email")
		c.Equal("create", false, "user", "email_verified")
		id := c.Str("create", "user", "user_id")
		c.OK("changePassword")
		c.Equal("changePassword", float64(200), "status")
		c.OK("findOne")
		u, _ := c.Get("findOne", "users")
		if us, _ := u.([]any); len(us) != 1 || us[0].(map[string]any)["user_id"] != id || us[0].(map[string]any)["email_verified"] != false {
			t.Fatalf("users-by-email after the create answered %v, want %s unverified", u, id)
		}
		c.Failed("createAgain", 409, "ConflictError")

		if sent := f.SentTo(id); len(sent) != 1 || sent[0].Kind != "change_password" {
			t.Errorf("the fake sent %+v for the client's change_password", f.SentEmails())
		}
		var create, reset bool
		for _, cl := range f.CallsFor(id) {
			create = create || cl.Method == http.MethodPost && cl.Path == "/api/v2/users" && cl.Status == 201 &&
				cl.Body["connection"] == f.Connection && cl.Body["verify_email"] == false
			reset = reset || cl.Path == "/dbconnections/change_password" && cl.Status == 200 && cl.Body["client_id"] == f.ClientID
		}
		if !create || !reset {
			t.Errorf("the fake recorded create %v, change_password %v: %+v", create, reset, f.CallsFor(id))
		}
	})
}
