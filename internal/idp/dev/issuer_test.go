package dev_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/idp/dev"
)

// serve mounts the issuer under /dev-idp as the gateway does.
func serve(t *testing.T) (*dev.Issuer, string) {
	t.Helper()
	var iss *dev.Issuer
	mux := http.NewServeMux()
	mux.Handle("/dev-idp/", http.StripPrefix("/dev-idp", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		iss.Handler().ServeHTTP(w, r)
	})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss, err := dev.NewIssuer(srv.URL + "/dev-idp")
	if err != nil {
		t.Fatal(err)
	}
	return iss, srv.URL
}

func getOK(t *testing.T, u string) string {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %.300s", u, res.StatusCode, b)
	}
	return string(b)
}

// The issuer's URL (and its URL with a slash) answers with a page that
// says what the dev IdP offers, and every link on it answers.
func TestIssuerURLServesWhatItOffers(t *testing.T) {
	iss, base := serve(t)
	northwind, harbour := uuid.New(), uuid.New()
	iss.AddTenant(dev.Tenant{Name: "Northwind Estates", ID: northwind, Subjects: map[access.Role]string{"admin": "nw-admin", "provider": "nw-provider"}})
	iss.AddTenant(dev.Tenant{Name: "Harbour Homes", ID: harbour, Subjects: map[access.Role]string{"admin": "hh-admin"}})
	for _, u := range []string{iss.URL(), iss.URL() + "/"} {
		page := getOK(t, u)
		for _, want := range []string{
			iss.URL() + "/.well-known/openid-configuration",
			iss.URL() + "/jwks.json",
			"POST " + iss.URL() + "/token",
			"role", "tenant", "sub", "email", "name",
			"Northwind Estates", northwind.String(), "nw-admin", "nw-provider",
			"Harbour Homes", harbour.String(), "hh-admin",
			"internal",
		} {
			if !strings.Contains(page, want) {
				t.Errorf("GET %s: the page lacks %q:\n%s", u, want, page)
			}
		}
	}
	page := getOK(t, iss.URL()+"/")
	// Every link it shows for GET answers.
	for _, m := range regexp.MustCompile(`(?m)^\S[^:\n]*:\s+(http://\S+)$`).FindAllStringSubmatch(page, -1) {
		getOK(t, m[1])
	}
	// Its curl commands mint tokens.
	curls := regexp.MustCompile(`curl((?: -d \S+)+) (http://\S+)`).FindAllStringSubmatch(page, -1)
	if len(curls) < 4 {
		t.Fatalf("%d curl commands on the page:\n%s", len(curls), page)
	}
	for _, c := range curls {
		form := url.Values{}
		for _, kv := range strings.Fields(strings.ReplaceAll(c[1], "-d ", "")) {
			k, v, _ := strings.Cut(kv, "=")
			form.Set(k, v)
		}
		res, err := http.PostForm(c[2], form)
		if err != nil {
			t.Fatal(err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		err = json.NewDecoder(res.Body).Decode(&tok)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || err != nil || tok.AccessToken == "" {
			t.Errorf("%s: %d %v", c[0], res.StatusCode, err)
		}
	}
	// Discovery points at the same JWKS.
	var disc struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := json.Unmarshal([]byte(getOK(t, iss.URL()+"/.well-known/openid-configuration")), &disc); err != nil || disc.JWKS != iss.URL()+"/jwks.json" {
		t.Errorf("discovery: %+v %v", disc, err)
	}
	if res, err := http.Get(base + "/dev-idp/nothing"); err != nil || res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /dev-idp/nothing: %v %v", res, err)
	}
}
