package pgtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PostmasterPID is the PID of the server of the cluster in dir (a
// postgres.Cluster's directory, the host of its URLs), from its
// postmaster.pid.
func PostmasterPID(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("postmaster.pid: no pid in %q", line)
	}
	return pid, nil
}

// Running reports whether process pid runs (a zombie, dead but not yet
// reaped by its parent, does not).
func Running(pid int) bool {
	if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !os.IsNotExist(err)
	}
	// "pid (comm) state ...", and comm may hold spaces and parentheses.
	state := strings.TrimSpace(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return !strings.HasPrefix(state, "Z") && !strings.HasPrefix(state, "X")
}

// WaitClusterGone fails t unless, within limit, the server pid of the
// cluster in dir has exited and dir is removed. If they outlive limit it
// ends that server (SIGQUIT, an immediate shutdown) and removes dir, so a
// failure leaves nothing behind either.
func WaitClusterGone(t testing.TB, dir string, pid int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		_, statErr := os.Stat(dir)
		alive, exists := Running(pid), !os.IsNotExist(statErr)
		if !alive && !exists {
			return
		}
		if time.Now().After(deadline) {
			if alive {
				_ = syscall.Kill(pid, syscall.SIGQUIT)
			}
			_ = os.RemoveAll(dir)
			t.Fatalf("after %s: PostgreSQL %d running: %v; directory %s still there: %v", limit, pid, alive, dir, exists)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
