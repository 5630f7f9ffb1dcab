package httpserver_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/auth/authtest"
	"github.com/propertyportal/gateway/internal/config"
	"github.com/propertyportal/gateway/internal/httpserver"
)

// A string PostgreSQL text cannot store (a NUL, or bytes that are not
// UTF-8), in a literal, a variable or a variable's default, of a query or a
// mutation, is BAD_USER_INPUT naming where it was, before any SQL and
// without an ERROR log line.
func TestUnstorableStringsAreBadUserInput(t *testing.T) {
	var logs bytes.Buffer
	srv, _ := newServer(t, func(d *httpserver.Deps) {
		d.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		d.GraphQLGet = config.GetOn
	})
	adminOf := authtest.Header(access.Scope{Role: access.RoleAdmin, TenantID: uuid.New()})
	const marker = "zz-nul-marker"
	cases := []struct {
		name  string
		doc   string
		vars  map[string]any
		where string // what the message names
	}{
		{"UsersSearchLiteral", `{ users(filter: {search: "` + marker + `\u0000"}) { totalCount } }`, nil, "filter.search"},
		{"UsersSearchBraceEscape", `{ users(filter: {search: "` + marker + `\u{0}"}) { totalCount } }`, nil, "filter.search"},
		{"ContactsSearchVariable", `query($s: String) { contacts(filter: {search: $s}) { totalCount } }`,
			map[string]any{"s": marker + "\x00"}, "$s"},
		{"FilterVariable", `query($f: UserFilter) { users(filter: $f) { totalCount } }`,
			map[string]any{"f": map[string]any{"idpId": marker + "\x00"}}, "$f.idpId"},
		{"ScalarVariable", `query($idp: String) { users(filter: {idpId: $idp}) { totalCount } }`,
			map[string]any{"idp": marker + "\x00"}, "$idp"},
		{"VariableDefault", `query($idp: String = "` + marker + `\u0000") { users(filter: {idpId: $idp}) { totalCount } }`, nil, "$idp"},
		{"InFragment", `query { ...F } fragment F on Query { invoices(filter: {createdByEmailDomain: "a` + marker + `\u0000.com"}) { totalCount } }`,
			nil, "filter.createdByEmailDomain"},
		{"MutationInputLiteral", `mutation { createContact(input: {fullName: "` + marker + `\u0000"}) { id } }`, nil, "input.fullName"},
		{"MutationInputVariable", `mutation($in: UpdateMyProfileInput!) { updateMyProfile(input: $in) { user { id } } }`,
			map[string]any{"in": map[string]any{"fullName": marker + "\x00"}}, "$in.fullName"},
		{"MutationArgumentVariable", `mutation($r: String!) { linkContactToBuilding(buildingId: "` + uuid.NewString() + `", contactId: "` + uuid.NewString() + `", role: $r) { role } }`,
			map[string]any{"r": marker + "\x00"}, "$r"},
	}
	check := func(t *testing.T, a answer, where string) {
		t.Helper()
		errs, _ := a.body["errors"].([]any)
		if a.code() != "BAD_USER_INPUT" || len(errs) != 1 || a.statements != 0 {
			t.Fatalf("want one BAD_USER_INPUT before any SQL, got %d statements: %s", a.statements, a.raw)
		}
		msg, _ := errs[0].(map[string]any)["message"].(string)
		if !strings.Contains(msg, where) || strings.Contains(a.raw, marker) {
			t.Fatalf("the message must name %s and not echo the value: %s", where, a.raw)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, _ := json.Marshal(map[string]any{"query": c.doc, "variables": c.vars})
			check(t, post(t, srv, string(b), "Authorization", adminOf), c.where)
		})
	}
	t.Run("NotUTF8OverGET", func(t *testing.T) {
		doc := url.QueryEscape(`{ users(filter: {search: "`+marker) + "%FF%FE" + url.QueryEscape(`"}) { totalCount } }`)
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/graphql?query="+doc, nil)
		req.Header.Set("Authorization", internal)
		check(t, do(t, req), "filter.search")
	})
	t.Run("NoErrorLogged", func(t *testing.T) {
		if strings.Contains(logs.String(), `"level":"ERROR"`) || strings.Contains(logs.String(), marker) {
			t.Fatalf("logged:\n%s", logs.String())
		}
	})
	t.Run("OtherStringsPass", func(t *testing.T) {
		a := query(t, srv, `{ users(filter: {search: "Zoë\t😀 \\u00e9"}) { totalCount } }`)
		if a.code() != "" {
			t.Fatalf("a storable string was refused: %s", a.raw)
		}
	})
}
