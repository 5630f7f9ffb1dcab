package httpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/propertyportal/gateway/internal/access"
	"github.com/propertyportal/gateway/internal/httpserver"
	"github.com/propertyportal/gateway/internal/live"
)

// subscriptionClients is tools/subscription-clients, with its node_modules
// (npm ci --prefix tools/subscription-clients); the test is skipped without
// them, and fails instead when CI is set.
func subscriptionClients(t *testing.T) (node, dir string) {
	t.Helper()
	dir, _ = filepath.Abs(filepath.Join("..", "..", "tools", "subscription-clients"))
	missing := func(why string) {
		t.Helper()
		msg := why + ": run `npm ci --prefix tools/subscription-clients`"
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but " + msg)
		}
		t.Skip("skipped: " + msg + "; with CI set this fails instead")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("no node on PATH")
	}
	for _, pkg := range []string{"graphql-ws", "graphql-sse", "ws"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			missing("tools/subscription-clients/node_modules/" + pkg + " is missing")
		}
	}
	return node, dir
}

// TestOfficialSubscriptionClients: the npm clients graphql-ws and
// graphql-sse, subscribed at replica a, get the status of a change that
// replica b's worker applied; another tenant's admin gets nothing.
func TestOfficialSubscriptionClients(t *testing.T) {
	node, dir := subscriptionClients(t)
	e := newLiveEnv(t, httpserver.Subscriptions{PerConnection: 4, KeepAlive: time.Second}, live.Options{})
	tenant, other := e.tenant(), e.tenant()
	jane := e.user(tenant)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "subscribe.mjs"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GATEWAY_URL="+e.a.URL+"/graphql",
		"OWN_AUTHORIZATION="+scopeHeader(access.RoleProvider, tenant, jane),
		"OTHER_AUTHORIZATION="+scopeHeader(access.RoleAdmin, other, uuid.Nil),
		"NEW_EMAIL=jane@example.org")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node subscribe.mjs: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	type got struct {
		Events []struct {
			Data struct {
				IdentitySyncChanged struct {
					ChangeID     string
					UserID       string
					IdentitySync struct{ Status string }
				}
			}
		}
		Errors []string
	}
	var out struct {
		WSOwn    got `json:"wsOwn"`
		WSOther  got `json:"wsOther"`
		SSEOwn   got `json:"sseOwn"`
		SSEOther got `json:"sseOther"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("no JSON from subscribe.mjs: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	for name, g := range map[string]got{"graphql-ws": out.WSOwn, "graphql-sse": out.SSEOwn} {
		if len(g.Errors) > 0 || len(g.Events) == 0 {
			t.Errorf("%s: events %v errors %v, want the change's status", name, g.Events, g.Errors)
			continue
		}
		ev := g.Events[len(g.Events)-1].Data.IdentitySyncChanged
		if ev.UserID != jane.String() || ev.IdentitySync.Status != "APPLIED" || ev.ChangeID == "" {
			t.Errorf("%s: last event %+v, want APPLIED for the user", name, ev)
		}
	}
	for name, g := range map[string]got{"graphql-ws": out.WSOther, "graphql-sse": out.SSEOther} {
		if len(g.Events) > 0 || len(g.Errors) > 0 {
			t.Errorf("%s: another tenant's admin got %v %v", name, g.Events, g.Errors)
		}
	}
}
