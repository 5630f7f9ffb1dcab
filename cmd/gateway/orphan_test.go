package main

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

// mainHelperEnv, when set, makes the test binary the gateway: main's
// code with the arguments it holds (see TestMain).
const mainHelperEnv = "GATEWAY_TEST_MAIN_ARGS"

// helperMain runs the test binary as the gateway would run, after printing
// "helper pid <pid>".
func helperMain(args string) int {
	fmt.Printf("helper pid %d\n", os.Getpid())
	return gatewayMain(strings.Fields(args))
}

// devProcess is gateway dev running as a process of its own (the test
// binary through helperMain), perhaps under a parent process.
type devProcess struct {
	pid        int    // the gateway's
	clusterDir string // its throwaway PostgreSQL's directory
	postmaster int    // that PostgreSQL's pid
	lines      chan string
}

// startDev starts the command line argv whose last element the test binary
// is appended to, with the environment the gateway needs and nothing
// else, and waits until gateway dev is serving. It returns the process
// started (argv's) and the gateway.
func startDev(t *testing.T, argv ...string) (*exec.Cmd, *devProcess) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argv = append(argv, exe)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(),
		mainHelperEnv + "=dev -addr 127.0.0.1:0"}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	d := &devProcess{lines: make(chan string, 1000)}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if d.pid != 0 && pgtest.Running(d.pid) {
			_ = syscall.Kill(d.pid, syscall.SIGKILL)
		}
	})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case d.lines <- sc.Text():
			default:
			}
		}
		close(d.lines)
	}()
	var all []string
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case line, ok := <-d.lines:
			if !ok {
				t.Fatalf("gateway dev ended before it served:\n%s", strings.Join(all, "\n"))
			}
			all = append(all, line)
			if m := regexp.MustCompile(`^helper pid (\d+)$`).FindStringSubmatch(line); m != nil {
				d.pid, _ = strconv.Atoi(m[1])
			}
			if m := regexp.MustCompile(`^PostgreSQL: (\S+)$`).FindStringSubmatch(line); m != nil {
				u, err := url.Parse(m[1])
				if err != nil {
					t.Fatal(err)
				}
				d.clusterDir = u.Query().Get("host")
				if d.postmaster, err = pgtest.PostmasterPID(d.clusterDir); err != nil {
					t.Fatal(err)
				}
			}
			if strings.HasPrefix(line, "GraphQL:") {
				if d.pid == 0 || d.clusterDir == "" || !filepath.IsAbs(d.clusterDir) || !pgtest.Running(d.postmaster) {
					t.Fatalf("gateway dev serves without its pid or its PostgreSQL:\n%s", strings.Join(all, "\n"))
				}
				return cmd, d
			}
		case <-deadline:
			t.Fatalf("gateway dev not serving:\n%s", strings.Join(all, "\n"))
		}
	}
}

// TestDevClusterDiesWithTheGateway: a gateway dev killed outright
// (SIGKILL: none of its shutdown runs) leaves no PostgreSQL running and no
// cluster directory behind.
func TestDevClusterDiesWithTheGateway(t *testing.T) {
	cmd, d := startDev(t)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	pgtest.WaitClusterGone(t, d.clusterDir, d.postmaster, time.Minute)
}

// TestDevStopsWhenGoRunEnds: go run exits on SIGTERM (or SIGKILL)
// without passing the signal to the program it runs; gateway dev, started
// by go run, stops when go run ends, and leaves nothing behind. A shell
// named go stands in for go run.
func TestDevStopsWhenGoRunEnds(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	goRun := filepath.Join(t.TempDir(), "go")
	if err := os.Symlink(sh, goRun); err != nil {
		t.Fatal(err)
	}
	// "; exit" keeps the shell from exec'ing the gateway in its place.
	cmd, d := startDev(t, goRun, "-c", `"$0"; exit $?`)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for pgtest.Running(d.pid) {
		if time.Now().After(deadline) {
			t.Fatalf("gateway %d still runs a minute after its go run ended", d.pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	pgtest.WaitClusterGone(t, d.clusterDir, d.postmaster, time.Minute)
}
