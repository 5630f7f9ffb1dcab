package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Cluster is a throwaway PostgreSQL cluster made from the server binaries on
// the machine, for `gateway dev` and tests. It listens only on a unix socket
// in its own directory, so it never collides with another server's port.
type Cluster struct {
	bin    string // directory holding initdb, pg_ctl and postgres
	dir    string // removed by Stop
	data   string
	runAs  string // the unprivileged user the server runs as when we are root
	opts   string // the server options pg_ctl start passes on
	stdout bool
	guard  *watchdog // stops the server and removes dir when this process dies
}

// ErrNoServer says the PostgreSQL server binaries are not installed.
var ErrNoServer = errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under /usr/lib/postgresql/*/bin; " +
	"install them (Debian/Ubuntu: apt-get install postgresql) or set DATABASE_URL to an existing server")

// FindServerBinaries returns the directory holding initdb and pg_ctl.
func FindServerBinaries() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(versions, func(i, j int) bool { return majorOf(versions[i]) > majorOf(versions[j]) })
	dirs = append(dirs, versions...)
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "pg_ctl")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNoServer
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// StartCluster initialises and starts a new cluster in a temporary
// directory. initdb and postgres refuse to run as root, so as root the
// cluster runs as the "postgres" user (or "nobody") with a directory it owns.
func StartCluster(ctx context.Context) (*Cluster, error) {
	bin, err := FindServerBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gwpg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, dir: dir, data: filepath.Join(dir, "data")}
	if os.Geteuid() == 0 {
		if err := c.dropPrivileges(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	// From here on the cluster does not outlive this process, however it
	// ends.
	if c.guard, err = c.startWatchdog(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := c.run(ctx, "initdb", "-D", c.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync", "--no-instructions"); err != nil {
		_ = os.RemoveAll(dir)
		c.guard.disarm()
		return nil, fmt.Errorf("initdb: %w", err)
	}
	c.opts = strings.Join([]string{
		"-c listen_addresses=''",
		"-k " + c.dir,
		"-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
		"-c max_connections=300", "-c shared_buffers=128MB",
	}, " ")
	if err := c.StartServer(ctx); err != nil {
		c.guard.fire() // pg_ctl may have given up on a server that still starts
		return nil, err
	}
	return c, nil
}

// StartServer starts the cluster's server again after StopServer (StartCluster
// starts it the first time).
func (c *Cluster) StartServer(ctx context.Context) error {
	if err := c.run(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", c.data, "-l", filepath.Join(c.dir, "server.log"), "-o", c.opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		return fmt.Errorf("pg_ctl start: %w\n%s", err, tail(log, 2000))
	}
	return nil
}

// StopServer stops the server the way an orderly restart does (pg_ctl stop
// -m fast: open sessions are ended, committed work is kept) and keeps the
// data directory, so StartServer can bring the same cluster back.
func (c *Cluster) StopServer() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return c.run(ctx, "pg_ctl", "stop", "-m", "fast", "-w", "-D", c.data)
}

func (c *Cluster) dropPrivileges() error {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(c.dir, uid, gid); err != nil {
			return err
		}
		if _, err := exec.LookPath("runuser"); err != nil {
			return fmt.Errorf("running as root needs runuser to start PostgreSQL as %s: %w", name, err)
		}
		c.runAs = name
		return nil
	}
	return errors.New("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as")
}

func (c *Cluster) run(ctx context.Context, tool string, args ...string) error {
	path := filepath.Join(c.bin, tool)
	var cmd *exec.Cmd
	if c.runAs != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// pg_ctl start leaves the server running: it must not die with ctx.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	// A tool (initdb above all) dies with this process rather than writing
	// on into a directory the watchdog removes. Pdeathsig is not the
	// cluster's guard: it fires when the thread that started the child
	// ends (hence the locked thread until the tool exits), the kernel
	// clears it when the child changes user (runuser, as root), and the
	// server is pg_ctl's child, not ours.
	cmd.SysProcAttr = toolProcAttr()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, tail(out.Bytes(), 2000))
	}
	return nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// URL returns a connection URL for database name on the cluster.
func (c *Cluster) URL(name string) string {
	q := url.Values{"host": {c.dir}, "user": {"postgres"}, "sslmode": {"disable"}}
	return "postgres:///" + url.PathEscape(name) + "?" + q.Encode()
}

// Stop stops the server and removes its directory.
func (c *Cluster) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := c.run(ctx, "pg_ctl", "stop", "-m", "fast", "-w", "-D", c.data)
	if rmErr := os.RemoveAll(c.dir); err == nil {
		err = rmErr
	}
	if err != nil {
		c.guard.fire() // an immediate stop, and the directory goes anyway
	} else {
		c.guard.disarm()
	}
	return err
}
