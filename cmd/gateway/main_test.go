package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// started is a gateway running through the real run function.
type started struct {
	out  *lineBuffer
	done chan error
	stop context.CancelFunc
}

// start runs the gateway with args and env until it prints a line matching
// ready; it returns the first capture group of that line.
func start(t *testing.T, env map[string]string, ready *regexp.Regexp, args ...string) (*started, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{out: newLineBuffer(), done: make(chan error, 1), stop: cancel}
	go func() { s.done <- run(ctx, args, func(k string) string { return env[k] }, s.out) }()
	t.Cleanup(func() { s.shutdown(t) })
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case line := <-s.out.lines:
			if m := ready.FindStringSubmatch(line); m != nil {
				return s, m[1]
			}
		case err := <-s.done:
			s.done <- err
			t.Fatalf("gateway exited before it was ready: %v\n%s", err, s.out.String())
		case <-deadline:
			t.Fatalf("gateway not ready:\n%s", s.out.String())
		}
	}
}

// waitFor reads the gateway's output until a line matches re and returns
// the first capture group of that line.
func (s *started) waitFor(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case line := <-s.out.lines:
			if m := re.FindStringSubmatch(line); m != nil {
				return m[1]
			}
		case <-deadline:
			t.Fatalf("no line matching %s:\n%s", re, s.out.String())
		}
	}
}

func (s *started) shutdown(t *testing.T) {
	t.Helper()
	if s.stop == nil {
		return
	}
	s.stop()
	s.stop = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("gateway stopped with %v", err)
		}
	case <-time.After(time.Minute):
		t.Error("gateway did not stop")
	}
}

func TestDevServesTheDemoAndStopsCleanly(t *testing.T) {
	s, base := start(t, nil, regexp.MustCompile(`^GraphQL:\s+(http://\S+)/graphql$`), "dev", "-addr", "127.0.0.1:0")
	s.waitFor(t, regexp.MustCompile(`^\s+internal service account:\s+(.+)$`))
	out := s.out.String()
	dbDir := regexp.MustCompile(`host=([^&\s]+)`).FindStringSubmatch(out)
	header := regexp.MustCompile(`(?m)^\s+admin, Northwind Estates:\s+(Dev .+)$`).FindStringSubmatch(out)
	if header == nil {
		t.Fatalf("no admin credential printed:\n%s", out)
	}

	t.Run("GraphQLAnswersWithDemoData", func(t *testing.T) {
		body := `{"query":"{ buildings(first: 3) { edges { node { name primaryContact { fullName } } } } users(filter: {emailDomain: \"acme.com\"}) { totalCount } }"}`
		req, _ := http.NewRequest(http.MethodPost, base+"/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", header[1])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var r struct {
			Data struct {
				Buildings struct {
					Edges []struct {
						Node struct {
							Name           string
							PrimaryContact *struct{ FullName string }
						}
					}
				}
				Users struct{ TotalCount int }
			}
			Errors []any
		}
		if err := json.NewDecoder(res.Body).Decode(&r); err != nil || len(r.Errors) > 0 {
			t.Fatalf("decode: %v, errors: %v", err, r.Errors)
		}
		if len(r.Data.Buildings.Edges) != 3 || r.Data.Buildings.Edges[0].Node.PrimaryContact == nil || r.Data.Users.TotalCount == 0 {
			t.Fatalf("demo data missing: %+v", r.Data)
		}
	})

	t.Run("GraphiQLAndHealth", func(t *testing.T) {
		for path, want := range map[string]string{"/": "graphiql", "/healthz": "ok", "/readyz": "ready"} {
			res, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(string(b)), want) {
				t.Fatalf("GET %s: %d %.200s", path, res.StatusCode, b)
			}
		}
	})

	s.shutdown(t)
	if !strings.Contains(s.out.String(), "PostgreSQL stopped and removed") {
		t.Fatalf("no clean stop:\n%s", s.out.String())
	}
	if dbDir == nil {
		t.Fatalf("no database printed:\n%s", out)
	}
	if _, err := os.Stat(dbDir[1]); !os.IsNotExist(err) {
		t.Fatalf("cluster directory %s still exists: %v", dbDir[1], err)
	}
}

func TestServeNeverAcceptsDevCredentials(t *testing.T) {
	env := map[string]string{"DATABASE_URL": pgtest.URL(t), "LISTEN_ADDR": "127.0.0.1:0"}
	_, base := start(t, env, regexp.MustCompile(`^GraphQL: (http://\S+)/graphql$`), "serve", "-migrate")
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", strings.NewReader(`{"query":"{ users { totalCount } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Dev internal 00000000-0000-0000-0000-000000000000")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || !bytes.Contains(b, []byte(`"UNAUTHENTICATED"`)) {
		t.Fatalf("serve accepted dev credentials: %d %s", res.StatusCode, b)
	}
}

func TestMigrateStatusListsEveryMigration(t *testing.T) {
	var out bytes.Buffer
	url := pgtest.URL(t)
	if err := run(context.Background(), []string{"migrate", "status"}, func(k string) string {
		return map[string]string{"DATABASE_URL": url}[k]
	}, &out); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "applied"); n < 5 {
		t.Fatalf("status shows %d applied migrations:\n%s", n, out.String())
	}
}

func TestBadConfigurationStopsStartup(t *testing.T) {
	err := run(context.Background(), []string{"serve"}, func(k string) string {
		return map[string]string{"MAX_PAGE_SIZE": "lots"}[k]
	}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "MAX_PAGE_SIZE") {
		t.Fatalf("err = %v, want one naming MAX_PAGE_SIZE", err)
	}
}

// lineBuffer is an io.Writer that keeps everything and hands out lines.
type lineBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
	w     *io.PipeWriter
}

func newLineBuffer() *lineBuffer {
	r, w := io.Pipe()
	lb := &lineBuffer{lines: make(chan string, 1000), w: w}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lb.lines <- sc.Text()
		}
	}()
	return lb
}

func (l *lineBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf.Write(p)
	l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lineBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
