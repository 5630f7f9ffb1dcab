package idp_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/idp"
	"github.com/propertyportal/gateway/internal/idp/providers"
)

// example is examples/idp.yaml, the complete IdP configuration example that
// docs/sign-in.md points to, which must stay a configuration that loads.
func example(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../examples/idp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestExampleLoads(t *testing.T) {
	p := t.TempDir() + "/idps.yaml"
	if err := os.WriteFile(p, []byte(example(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgs, err := providers.LoadFile(p, func(name string) string {
		if strings.HasSuffix(name, "ISSUER") || strings.HasSuffix(name, "URL") {
			return "https://" + strings.ToLower(name) + ".example/"
		}
		return "secret-of-" + name
	})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[idp.Kind]*idp.Config{}
	for i := range cfgs {
		kinds[cfgs[i].Kind] = &cfgs[i]
	}
	for _, k := range []idp.Kind{idp.KindAuth0, idp.KindKeycloak, idp.KindEntra, idp.KindOIDC} {
		if kinds[k] == nil {
			t.Fatalf("the example has no %s adapter", k)
		}
	}
	if a := kinds[idp.KindAuth0]; a.Admin == nil || a.Webhook == nil || a.Admin.ClientSecret != "secret-of-AUTH0_MGMT_SECRET" || a.Admin.Connection != idp.DefaultAuth0Connection {
		t.Fatalf("the auth0 example lacks its admin or webhook section, or ${} was not expanded: %+v", a)
	}
	if got := kinds[idp.KindEntra].SubjectClaim; got != "oid" {
		t.Fatalf("entra subject claim defaults to %q, want oid", got)
	}
	if a := kinds[idp.KindAuth0]; len(a.InternalClients) == 0 || a.ClientClaim != "azp" {
		t.Fatalf("the auth0 example names no internal client, or client_claim is not azp: %+v", a)
	}
	if got := kinds[idp.KindKeycloak].RolesClaim; got != "realm_access.roles" {
		t.Fatalf("keycloak roles claim defaults to %q", got)
	}
	if m, ok := kinds[idp.KindKeycloak].MigrateFrom("auth0-prod"); !ok || !m.LinkOnSignIn || time.Duration(m.Grace) != 168*time.Hour {
		t.Fatalf("the keycloak example does not migrate from auth0-prod: %+v", m)
	}
	if err := idp.CheckMigrations(cfgs); err != nil {
		t.Fatal(err)
	}
	// A normalised configuration normalises again unchanged: the binary
	// hands loaded configs on, and a default must not trip a check.
	for i := range cfgs {
		again := cfgs[i]
		if err := providers.Normalize(&again); err != nil {
			t.Fatalf("idp %q normalised twice: %v", cfgs[i].ID, err)
		}
	}
}

func TestDefaults(t *testing.T) {
	c := idp.Config{ID: "kc", Kind: idp.KindKeycloak, Issuer: "https://kc.example/realms/portal", Audiences: []string{"gw"}, TenantClaim: "tenant"}
	if err := providers.Normalize(&c); err != nil {
		t.Fatal(err)
	}
	if c.SubjectClaim != "sub" || c.EmailClaim != "email" || c.NameClaim != "name" ||
		time.Duration(c.ClockSkew) != time.Minute || time.Duration(c.JWKSMinRefresh) != time.Minute ||
		len(c.Algorithms) != 1 || c.Algorithms[0] != "RS256" || c.ClientClaim != "azp" {
		t.Fatalf("defaults %+v", c)
	}
}

func TestMapRole(t *testing.T) {
	c := idp.Config{RoleMap: map[string]access.Role{"staff": access.RoleAdmin, "svc": access.RoleInternal, "pp": access.RoleProvider}}
	for names, want := range map[string]access.Role{"pp": access.RoleProvider, "pp staff": access.RoleAdmin, "staff svc pp": access.RoleInternal, "admin": "", "internal provider": ""} {
		got, ok := c.MapRole(strings.Fields(names))
		if got != want || ok != (want != "") {
			t.Errorf("MapRole(%s) = %q %v, want %q", names, got, ok, want)
		}
	}

	t.Run("NamesAsWrittenGetNoRole", func(t *testing.T) {
		var none idp.Config
		for _, names := range []string{"internal", "admin", "provider", "internal admin provider"} {
			if got, ok := none.MapRole(strings.Fields(names)); ok || got != "" {
				t.Errorf("without role_map, MapRole(%s) = %q %v, want no role", names, got, ok)
			}
		}
	})

	t.Run("UnmappedNamesGetTheDefaultRole", func(t *testing.T) {
		d := idp.Config{DefaultRole: access.RoleProvider}
		for _, names := range []string{"", "internal", "admin"} {
			if got, ok := d.MapRole(strings.Fields(names)); !ok || got != access.RoleProvider {
				t.Errorf("MapRole(%s) = %q %v, want the default provider", names, got, ok)
			}
		}
	})
}

func TestInviteSettings(t *testing.T) {
	const ok = `issuer: "https://x.example/", audiences: [gw], tenant_claim: t`
	cfgs, err := providers.Parse([]byte(`idps: [
  {id: a, kind: auth0, ` + ok + `, roles_claim: r, admin: {base_url: "https://t.example/", client_id: c, client_secret: s}},
  {id: b, kind: auth0, issuer: "https://y.example/", audiences: [gw], tenant_claim: t, roles_claim: r, admin: {base_url: "https://u.example/", client_id: c, client_secret: s, connection: tenants-db}},
  {id: e, kind: entra, issuer: "https://z.example/", audiences: [gw], tenant_claim: t, admin: {tenant_id: t, client_id: c, client_secret: s, invite_redirect_url: "https://portal.example/welcome"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfgs[0].Admin.Connection; got != idp.DefaultAuth0Connection {
		t.Errorf("default connection %q", got)
	}
	if got := cfgs[1].Admin.Connection; got != "tenants-db" {
		t.Errorf("connection %q", got)
	}
	if got := cfgs[2].Admin.InviteRedirectURL; got != "https://portal.example/welcome" {
		t.Errorf("invite_redirect_url %q", got)
	}
}

func TestInternalClient(t *testing.T) {
	c := idp.Config{InternalClients: []string{"reports-m2m"}}
	for id, want := range map[string]bool{"reports-m2m": true, "Reports-M2M": false, "reports": false, "": false} {
		if got := c.InternalClient(id); got != want {
			t.Errorf("InternalClient(%q) = %v, want %v", id, got, want)
		}
	}
	var none idp.Config
	if none.InternalClient("") {
		t.Error("an adapter without internal_clients trusts a token without a client")
	}
}

func TestBadConfigurationNamesAdapterAndField(t *testing.T) {
	const ok = `issuer: "https://x.example/", audiences: [gw], tenant_claim: t`
	for name, tc := range map[string]struct{ doc, want string }{
		"Empty":           {`idps: []`, "no idps"},
		"UnknownField":    {`idps: [{id: a, kind: oidc, ` + ok + `, audience: [gw]}]`, "audience"},
		"NoID":            {`idps: [{kind: oidc, ` + ok + `}]`, `"(no id)": id`},
		"BadKind":         {`idps: [{id: a, kind: okta, ` + ok + `}]`, `idp "a": kind`},
		"BadIssuer":       {`idps: [{id: a, kind: oidc, issuer: "not a url", audiences: [gw], tenant_claim: t}]`, `idp "a": issuer`},
		"NoAudience":      {`idps: [{id: a, kind: oidc, issuer: "https://x.example/", tenant_claim: t}]`, `idp "a": audiences`},
		"BadJWKS":         {`idps: [{id: a, kind: oidc, ` + ok + `, jwks_url: "ftp://x"}]`, `idp "a": jwks_url`},
		"Auth0NeedsRoles": {`idps: [{id: a, kind: auth0, ` + ok + `}]`, `idp "a": roles_claim`},
		"BothTenants":     {`idps: [{id: a, kind: oidc, ` + ok + `, tenant: 6f1c1f2e-8a57-4d43-a0a7-5b1c3a9e2d10}]`, `idp "a": tenant_claim`},
		"BadTenant":       {`idps: [{id: a, kind: oidc, issuer: "https://x.example/", audiences: [gw], tenant: acme}]`, `idp "a": tenant`},
		"BadRoleMap":      {`idps: [{id: a, kind: oidc, ` + ok + `, role_map: {x: root}}]`, `idp "a": role_map`},
		"DefaultInternal": {`idps: [{id: a, kind: oidc, ` + ok + `, default_role: internal}]`, `idp "a": default_role: internal`},
		"InternalOnFixedTenant": {`idps: [{id: a, kind: keycloak, issuer: "https://x.example/", audiences: [gw], tenant: 6f1c1f2e-8a57-4d43-a0a7-5b1c3a9e2d10, role_map: {svc: internal}, internal_clients: [ops]}]`,
			`idp "a": role_map: "svc" maps to internal, which reads every tenant; an adapter with a fixed tenant`},
		"InternalWithoutClients": {`idps: [{id: a, kind: oidc, ` + ok + `, role_map: {svc: internal}}]`, `idp "a": role_map: "svc" maps to internal but internal_clients is empty`},
		"ClientsWithoutInternal": {`idps: [{id: a, kind: auth0, ` + ok + `, roles_claim: r, role_map: {staff: admin}, internal_clients: [ops]}]`, `idp "a": internal_clients: set, but no role_map value is internal`},
		"EmptyClient":            {`idps: [{id: a, kind: oidc, ` + ok + `, role_map: {svc: internal}, internal_clients: [""]}]`, `idp "a": internal_clients: an empty client id`},
		"BadSkew":                {`idps: [{id: a, kind: oidc, ` + ok + `, clock_skew: 1h}]`, `idp "a": clock_skew`},
		"HMAC":                   {`idps: [{id: a, kind: oidc, ` + ok + `, algorithms: [HS256]}]`, `idp "a": algorithms`},
		"None":                   {`idps: [{id: a, kind: oidc, ` + ok + `, algorithms: [none]}]`, `idp "a": algorithms`},
		"DuplicateID":            {`idps: [{id: a, kind: oidc, ` + ok + `}, {id: a, kind: oidc, issuer: "https://y.example/", audiences: [gw], tenant_claim: t}]`, `idp "a": id`},
		"SharedIssuer":           {`idps: [{id: a, kind: oidc, ` + ok + `}, {id: b, kind: oidc, ` + ok + `}]`, `idp "b": issuer`},
		"ConnectionOnKeycloak": {`idps: [{id: a, kind: keycloak, ` + ok + `, admin: {base_url: "https://kc.example/", client_id: c, client_secret: s, realm: r, connection: db}}]`,
			`idp "a": admin.connection: only auth0`},
		"BadConnection": {`idps: [{id: a, kind: auth0, ` + ok + `, roles_claim: r, admin: {base_url: "https://t.example/", client_id: c, client_secret: s, connection: "has space"}}]`,
			`idp "a": admin.connection`},
		"RedirectOnAuth0": {`idps: [{id: a, kind: auth0, ` + ok + `, roles_claim: r, admin: {base_url: "https://t.example/", client_id: c, client_secret: s, invite_redirect_url: "https://p.example/"}}]`,
			`idp "a": admin.invite_redirect_url: only entra`},
		"BadRedirect": {`idps: [{id: a, kind: entra, ` + ok + `, admin: {tenant_id: t, client_id: c, client_secret: s, invite_redirect_url: "portal.example"}}]`,
			`idp "a": admin.invite_redirect_url: must be an http(s) URL`},
		"VerifiedClaimUntrusted": {`idps: [{id: a, kind: oidc, ` + ok + `, email_verified_claim: ev}]`, `idp "a": email_verified_claim: set, but trust_email_verified is false`},
		"MigrateFromNoIdP":       {`idps: [{id: a, kind: oidc, ` + ok + `, migrate_from: [{grace: 1h}]}]`, `idp "a": migrate_from[0].idp: required`},
		"MigrateFromItself":      {`idps: [{id: a, kind: oidc, ` + ok + `, migrate_from: [{idp: a}]}]`, `idp "a": migrate_from[0].idp: names this adapter itself`},
		"MigrateFromTwice":       {`idps: [{id: a, kind: oidc, ` + ok + `, migrate_from: [{idp: b}, {idp: b}]}]`, `idp "a": migrate_from[1].idp: "b" is listed twice`},
		"NegativeGrace":          {`idps: [{id: a, kind: oidc, ` + ok + `, migrate_from: [{idp: b, grace: -1h}]}]`, `idp "a": migrate_from[0].grace: must be between`},
		"LongGrace":              {`idps: [{id: a, kind: oidc, ` + ok + `, migrate_from: [{idp: b, grace: 10000h}]}]`, `idp "a": migrate_from[0].grace: must be between`},
		"LinkWithoutTrust":       {`idps: [{id: a, kind: oidc, ` + ok + `, migrate_from: [{idp: b, link_on_sign_in: true}]}]`, `idp "a": migrate_from[0].link_on_sign_in: requires trust_email_verified`},
		"MigrateFromUnknownKey":  {`idps: [{id: a, kind: oidc, ` + ok + `, migrate_from: [{idp: b, grace_period: 1h}]}]`, "grace_period"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := providers.Parse([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestMigrateFrom(t *testing.T) {
	const ok = `kind: oidc, audiences: [gw], tenant_claim: t`
	cfgs, err := providers.Parse([]byte(`idps:
  - {id: old, issuer: "https://old.example/", ` + ok + `}
  - {id: new, issuer: "https://new.example/", ` + ok + `, trust_email_verified: true,
     migrate_from: [{idp: old, grace: 168h, link_on_sign_in: true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := idp.CheckMigrations(cfgs); err != nil {
		t.Fatal(err)
	}
	target := &cfgs[1]
	m, found := target.MigrateFrom("old")
	if !found || time.Duration(m.Grace) != 168*time.Hour || !m.LinkOnSignIn || target.EmailVerifiedClaim != "email_verified" {
		t.Fatalf("MigrateFrom(old) = %+v %v; claim %q", m, found, target.EmailVerifiedClaim)
	}
	if _, found := target.MigrateFrom("new"); found {
		t.Fatal("the target migrates from itself")
	}
	if _, found := cfgs[0].MigrateFrom("new"); found {
		t.Fatal("migrate_from is not symmetric")
	}

	t.Run("OffByDefault", func(t *testing.T) {
		if cfgs[0].TrustEmailVerified || len(cfgs[0].MigrateSources) != 0 {
			t.Fatalf("defaults %+v", cfgs[0])
		}
	})

	t.Run("UnknownSource", func(t *testing.T) {
		bad := []idp.Config{cfgs[1]}
		err := idp.CheckMigrations(bad)
		if err == nil || !strings.Contains(err.Error(), `idp "new": migrate_from[0].idp: "old" is not a configured adapter`) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestEnvironmentReferences(t *testing.T) {
	p := t.TempDir() + "/idps.yaml"
	doc := "idps: [{id: a, kind: oidc, issuer: \"${ISSUER}\", audiences: [gw], tenant_claim: t}]"
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgs, err := providers.LoadFile(p, func(k string) string { return map[string]string{"ISSUER": "https://login.example/"}[k] })
	if err != nil || cfgs[0].Issuer != "https://login.example/" {
		t.Fatalf("%+v %v", cfgs, err)
	}
	if _, err := providers.LoadFile(p, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "${ISSUER}") {
		t.Fatalf("unset reference: %v", err)
	}
}
