package postgres_test

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/propertyportal/gateway/internal/postgres"
	"github.com/propertyportal/gateway/internal/postgres/pgtest"
)

// helperEnv, when set, makes the test binary the process that starts a
// cluster for TestClusterDiesWithTheProcessThatStartedIt.
const helperEnv = "GATEWAY_CLUSTER_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(clusterHelper())
	}
	os.Exit(pgtest.Main(m))
}

// clusterHelper starts a cluster, prints "cluster <dir> <postmaster pid>"
// and waits to be killed.
func clusterHelper() int {
	c, err := postgres.StartCluster(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	u, _ := url.Parse(c.URL("postgres"))
	dir := u.Query().Get("host")
	pid, err := pgtest.PostmasterPID(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	fmt.Printf("cluster %s %d\n", dir, pid)
	time.Sleep(10 * time.Minute) // the test kills this process long before
	return 1
}

// TestClusterDiesWithTheProcessThatStartedIt: when the process that
// started a cluster dies without a word (SIGKILL: none of its code runs),
// the cluster's PostgreSQL stops and its directory is removed.
func TestClusterDiesWithTheProcessThatStartedIt(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
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
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })

	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "cluster ") {
				line <- sc.Text()
				return
			}
		}
		close(line)
	}()
	var dir string
	var pid int
	select {
	case l, ok := <-line:
		f := strings.Fields(l)
		if !ok || len(f) != 3 {
			t.Fatalf("helper printed no cluster (%q)", l)
		}
		dir = f[1]
		if pid, err = strconv.Atoi(f[2]); err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("helper started no cluster")
	}
	if !pgtest.Running(pid) {
		t.Fatalf("PostgreSQL %d is not running before the kill", pid)
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	pgtest.WaitClusterGone(t, dir, pid, time.Minute)
}
