package idptest

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// Serve starts h on 127.0.0.1, over TLS with httptest's certificate when
// useTLS is set, and closes it when the test ends. The official Auth0 and
// Microsoft Graph clients only speak https (Graph's client attaches the
// bearer token to https hosts alone), so their checks use a TLS fake.
func Serve(t testing.TB, h http.Handler, useTLS bool) *httptest.Server {
	var srv *httptest.Server
	if useTLS {
		srv = httptest.NewTLSServer(Stamp(h))
	} else {
		srv = httptest.NewServer(Stamp(h))
	}
	t.Cleanup(srv.Close)
	return srv
}

// ClientsDir is the npm project with the providers' official clients,
// tools/idp-clients at the module root.
func ClientsDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "tools", "idp-clients")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// NeedClients finds node and the installed clients of tools/idp-clients
// at the versions package.json pins. Without them the test fails when CI
// is set (.ci/run installs them) and is skipped otherwise, as the browser
// test does without Chromium.
func NeedClients(t *testing.T) (node, dir string) {
	t.Helper()
	dir = ClientsDir(t)
	missing := func(why string) {
		t.Helper()
		msg := why + ": run `npm ci --prefix tools/idp-clients`"
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but " + msg)
		}
		t.Skip("skipped: " + msg + "; with CI set this fails instead")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("no node on PATH (apt-get install nodejs npm)")
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil || json.Unmarshal(b, &pkg) != nil || len(pkg.Dependencies) == 0 {
		t.Fatalf("read %s/package.json: %v", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		missing("tools/idp-clients/node_modules is missing")
	}
	names := make([]string, 0, len(pkg.Dependencies))
	for name := range pkg.Dependencies {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		want := pkg.Dependencies[name]
		var got struct {
			Version string `json:"version"`
		}
		b, err := os.ReadFile(filepath.Join(dir, "node_modules", name, "package.json"))
		if err != nil {
			missing(name + " is not installed in tools/idp-clients/node_modules")
		}
		if json.Unmarshal(b, &got) != nil || got.Version != want {
			missing(name + " " + got.Version + " is installed, package.json pins " + want)
		}
	}
	return node, dir
}

// CertFile writes srv's certificate as PEM for NODE_EXTRA_CA_CERTS and
// returns its path.
func CertFile(t testing.TB, srv *httptest.Server) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-ca.pem")
	der := srv.Certificate().Raw
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// RunClient runs `node tools/idp-clients/<script>` with env added to the
// test's environment and decodes the JSON object it prints on stdout:
// what each call of the official client returned or threw. A script that
// exits non-zero fails the test with its stderr.
func RunClient(t *testing.T, script string, env map[string]string) map[string]any {
	t.Helper()
	node, dir := NeedClients(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, script))
	cmd.Dir = dir
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\nstderr:\n%s\nstdout:\n%s", script, err, stderr.String(), stdout.String())
	}
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("node %s printed no JSON object: %v\nstdout:\n%s\nstderr:\n%s", script, err, stdout.String(), stderr.String())
	}
	return out
}
