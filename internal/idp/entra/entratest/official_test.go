package entratest_test

import (
	"net/http"
	"testing"

	"github.com/propertyportal/gateway/internal/idp/entra/entratest"
	"github.com/propertyportal/gateway/internal/idp/idptest"
)

// TestOfficialClientAgreesWithFake drives the official Microsoft Graph
// client (@microsoft/microsoft-graph-client; tools/idp-clients/entra.mjs)
// against the fake through the calls the adapter makes, and checks both
// what the client saw and what the fake did.
func TestOfficialClientAgreesWithFake(t *testing.T) {
	idptest.NeedClients(t)
	f := entratest.NewTLS(t)
	const id = "6e3a2f3c-1d6b-4a55-9b1e-0c5f2b7d8e91"
	env := func(mode string) map[string]string {
		cfg := f.Config()
		return map[string]string{
			"IDP_MODE":            mode,
			"IDP_URL":             f.URL,
			"IDP_TOKEN_URL":       cfg.TokenURL,
			"NODE_EXTRA_CA_CERTS": idptest.CertFile(t, f.Server),
			"IDP_CLIENT_ID":       f.ClientID,
			"IDP_CLIENT_SECRET":   f.ClientSecret,
			"IDP_USER_ID":         id,
			"IDP_EMAIL":           "new@example.com",
			"IDP_NAME":            "Jane Doe",
		}
	}

	t.Run("Calls", func(t *testing.T) {
		f.Put(idptest.User{ID: id, Email: "old@example.com", FirstName: "Old Name"})
		tokensBefore := f.TokenCalls()
		out := idptest.RunClient(t, "entra.mjs", env("calls"))
		c := idptest.Results{T: t, Out: out}

		c.Require("token")
		c.Equal("token", "Bearer", "tokenType")
		if n := c.Num("token", "expiresIn"); n < 3500 || n > 3600 {
			t.Errorf("expires_in %v, want about an hour", n)
		}
		c.Equal("tokenAsJSON", float64(400), "status")
		c.Equal("tokenAsJSON", "invalid_request", "body", "error")
		if n := f.TokenCalls() - tokensBefore; n != 1 {
			t.Errorf("the fake issued %d tokens, want 1", n)
		}

		c.OK("read")
		c.Equal("read", id, "user", "id")
		c.Equal("read", "old@example.com", "user", "mail")
		c.Equal("read", "Old Name", "user", "displayName")

		c.OK("update")
		c.OK("readUpdated")
		c.Equal("readUpdated", "new@example.com", "user", "mail")
		c.Equal("readUpdated", "Jane Doe", "user", "displayName")

		c.OK("delete")
		if _, ok := f.Get(id); ok {
			t.Error("the user is still in the fake after the client's delete")
		}
		c.Failed("readDeleted", 404, "GraphError")
		c.Equal("readDeleted", "Request_ResourceNotFound", "error", "code")
		c.Failed("deleteAgain", 404, "GraphError")
		c.Equal("deleteAgain", "Request_ResourceNotFound", "error", "code")

		var patch, del, get bool
		for _, cl := range f.Calls() {
			switch {
			case cl.Method == http.MethodPatch && cl.Status == 204:
				patch = cl.UserID == id && len(cl.Body) == 2 && cl.Body["mail"] == "new@example.com" && cl.Body["displayName"] == "Jane Doe"
			case cl.Method == http.MethodDelete && cl.Status == 204:
				del = cl.UserID == id
			case cl.Method == http.MethodGet && cl.Status == 200:
				get = true
			}
		}
		if !patch || !del || !get {
			t.Errorf("the fake recorded update %v, delete %v, read %v: %+v", patch, del, get, f.Calls())
		}
	})

	t.Run("RateLimited", func(t *testing.T) {
		f.Put(idptest.User{ID: id, Email: "a@example.com"})
		f.SetRate(2)
		defer f.SetRate(0)
		before := f.Count429()
		out := idptest.RunClient(t, "entra.mjs", env("ratelimit"))
		c := idptest.Results{T: t, Out: out}
		c.Failed("refused", 429, "GraphError")
		c.Equal("refused", "TooManyRequests", "error", "code")
		c.Equal("refused", "1", "error", "headers", "retry-after")
		c.OK("retried")
		c.Equal("retried", id, "user", "id")
		if f.Count429() == before {
			t.Error("the fake served no 429")
		}
	})

	t.Run("Invite", func(t *testing.T) {
		e := env("invite")
		e["IDP_EMAIL"], e["IDP_REDIRECT_URL"] = "o'neill@example.com", entratest.RedirectURL
		out := idptest.RunClient(t, "entra.mjs", e)
		c := idptest.Results{T: t, Out: out}
		c.Require("token")

		c.OK("findNone")
		if u, _ := c.Get("findNone", "users"); u == nil || len(u.([]any)) != 0 {
			t.Errorf("the filter before the invitation answered %v, want []", u)
		}
		c.Require("invite")
		c.Equal("invite", "PendingAcceptance", "invitation", "status")
		c.Equal("invite", "o'neill@example.com", "invitation", "invitedUserEmailAddress")
		id := c.Str("invite", "invitation", "invitedUser", "id")
		if u, ok := f.Get(id); id == "" || !ok || u.Email != "o'neill@example.com" || u.FirstName != "Jane Doe" || u.EmailVerified {
			t.Fatalf("invitedUser.id %q; the fake holds %+v (%v)", id, u, ok)
		}
		if sent := f.SentTo(id); len(sent) != 1 || sent[0].Kind != "invitation" {
			t.Errorf("the fake sent %+v", f.SentEmails())
		}
		c.OK("findOne")
		found, _ := c.Get("findOne", "users")
		if us, _ := found.([]any); len(us) != 1 || us[0].(map[string]any)["id"] != id || us[0].(map[string]any)["externalUserState"] != "PendingAcceptance" {
			t.Errorf("the filter after the invitation answered %v, want %s PendingAcceptance", found, id)
		}
		c.Failed("inviteAgain", 409, "")
		calls := f.CallsFor(id)
		if len(calls) != 1 || calls[0].Path != "/v1.0/invitations" || calls[0].Status != 201 || calls[0].Body["inviteRedirectUrl"] != entratest.RedirectURL {
			t.Errorf("the fake recorded %+v", calls)
		}
	})
}
