package graph_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/auth/authtest"
	"github.com/propertyportal/gateway/internal/config"
	"github.com/propertyportal/gateway/internal/httpserver"
)

// TestErrorsDoNotEchoInput sends requests that are wrong in every way the
// parser, the validator, variable coercion and argument unmarshalling
// report, each with a marker in the offending value or name. No marker may
// come back in the answer or reach a log line, and every error still has a
// code and says what was wrong where.
func TestErrorsDoNotEchoInput(t *testing.T) {
	const (
		str  = "zz-secret@example.com" // in a string value, a key or the operation name
		name = "zzSecretName"          // where only a GraphQL name fits
	)
	cases := []struct {
		name, doc string
		vars      map[string]any
		op        string
		marker    string
		mentions  string // what the message still names
	}{
		{"EnumLiteral", `{ users(orderBy: {field: zzSecretName}) { totalCount } }`, nil, "", name, "UserOrderField"},
		{"EnumLiteralString", `{ users(orderBy: {field: "zz-secret@example.com"}) { totalCount } }`, nil, "", str, "UserOrderField"},
		{"EnumVariable", `query($o: UserOrder) { users(orderBy: $o) { totalCount } }`, map[string]any{"o": map[string]any{"field": str}}, "", str, "UserOrderField"},
		{"EnumVariableCase", `query($o: UserOrder) { users(orderBy: $o) { totalCount } }`, map[string]any{"o": map[string]any{"field": "eMaIl"}}, "", "eMaIl", "UserOrderField"},
		{"EnumVariableDirection", `query($o: UserOrder) { users(orderBy: $o) { totalCount } }`,
			map[string]any{"o": map[string]any{"field": "EMAIL", "direction": str}}, "", str, "OrderDirection"},
		{"IntLiteralString", `{ users(first: "zz-secret@example.com") { totalCount } }`, nil, "", str, "Int"},
		{"IntLiteralTooLarge", `{ users(first: 98765432109876) { totalCount } }`, nil, "", "98765432109876", "first"},
		{"IntLiteralFloat", `{ users(first: 12.3456789) { totalCount } }`, nil, "", "12.3456789", "Int"},
		{"IntVariableString", `query($n: Int) { users(first: $n) { totalCount } }`, map[string]any{"n": str}, "", str, "Int"},
		{"IntVariableFloat", `query($n: Int) { users(first: $n) { totalCount } }`, map[string]any{"n": 12.3456789}, "", "12.3456789", "Int"},
		{"BooleanLiteralString", `{ contacts(filter: {hasAccount: "zz-secret@example.com"}) { totalCount } }`, nil, "", str, "Boolean"},
		{"StringLiteralObject", `{ users(after: {k: "zz-secret@example.com"}) { totalCount } }`, nil, "", str, "String"},
		{"StringLiteralList", `{ users(after: ["zz-secret@example.com"]) { totalCount } }`, nil, "", str, "String"},
		{"StringVariableObject", `query($a: String) { users(after: $a) { totalCount } }`, map[string]any{"a": map[string]any{"k": str}}, "", str, "String"},
		{"IDLiteralFloat", `{ user(id: 1.5e300) { id } }`, nil, "", "1.5e300", "ID"},
		{"IDVariable", `query($id: ID!) { user(id: $id) { id } }`, map[string]any{"id": str}, "", str, "ID"},
		{"TimeLiteral", `{ invoices(filter: {issuedAfter: "zz-secret@example.com"}) { totalCount } }`, nil, "", str, "Time"},
		{"UnknownInputFieldLiteral", `{ users(filter: {zzSecretName: "x"}) { totalCount } }`, nil, "", name, "UserFilter"},
		{"UnknownInputFieldVariable", `query($f: UserFilter) { users(filter: $f) { totalCount } }`, map[string]any{"f": map[string]any{str: "x"}}, "", str, "$f"},
		{"OperationName", `query A { me { id } }`, nil, str, str, "operationName"},
		{"UnknownField", `{ zzSecretName }`, nil, "", name, "Query"},
		{"UnknownArgument", `{ users(zzSecretName: 1) { totalCount } }`, nil, "", name, "users"},
		{"UnknownType", `query($x: ZzSecretName) { me { id } }`, nil, "", "ZzSecretName", "type"},
		{"UnknownDirective", `{ me @zzSecretName { id } }`, nil, "", name, "directive"},
		{"UnknownFragment", `{ ...zzSecretName }`, nil, "", name, "fragment"},
		{"UndefinedVariable", `{ users(first: $zzSecretName) { totalCount } }`, nil, "", name, "Variable"},
		{"ParseString", `{ users "zz-secret@example.com" }`, nil, "", str, "String"},
		{"ParseEscape", `{ users(filter: {search: "\qzz-secret@example.com"}) { totalCount } }`, nil, "", str, "Unexpected"},
		{"ParseNumber", `{ users(first: 0123456789) { totalCount } }`, nil, "", "123456789", "Unexpected"},
	}
	for _, suggestions := range []bool{false, true} {
		logs := &syncBuffer{}
		log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		e := newWriteEnv(t, log, func(_ *sqlx.DB, d *httpserver.Deps) {
			l, err := httpserver.LimitsFrom(config.Default())
			if err != nil {
				t.Fatal(err)
			}
			l.FieldSuggestions = suggestions
			d.Limits = l
		})
		authz := authtest.Header(access.Scope{Role: access.RoleAdmin, TenantID: e.tenant("T"), UserID: uuid.New()})
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				body, _ := json.Marshal(map[string]any{"query": c.doc, "variables": c.vars, "operationName": c.op})
				req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", authz)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := io.ReadAll(res.Body)
				res.Body.Close()
				var out response
				if err := json.Unmarshal(raw, &out); err != nil || len(out.Errors) == 0 {
					t.Fatalf("want errors, got %s", raw)
				}
				for _, er := range out.Errors {
					if code, _ := er.Extensions["code"].(string); code == "" || code == "INTERNAL" {
						t.Errorf("want a client error code, got %s", raw)
					}
				}
				if strings.Contains(string(raw), c.marker) {
					t.Errorf("the answer echoes %q: %s", c.marker, raw)
				}
				if !strings.Contains(out.Errors[0].Message, c.mentions) {
					t.Errorf("the message should still name %s: %s", c.mentions, raw)
				}
			})
		}
		if out := logs.String(); strings.Contains(out, str) || strings.Contains(out, name) || strings.Contains(out, "eMaIl") ||
			strings.Contains(out, "98765432109876") || strings.Contains(out, "12.3456789") {
			t.Errorf("a marker reached the log:\n%s", out)
		}
	}
}
