package postgres

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
)

// A watchdog is a small process, started with the cluster, that stops the
// cluster's server (pg_ctl stop -m immediate) and removes its directory
// when the process that started the cluster dies, however it dies: a
// SIGKILL, a crash, a test binary's timeout, a go run that exits without
// passing its signal on. It reads a pipe whose only write end this process
// holds (close-on-exec, so no other child inherits it): the kernel closes
// that end when this process ends, and the watchdog reads EOF. Stop
// disarms it (it reads a word, then exits doing nothing).
//
// The watchdog is sh, so every user of StartCluster (gateway dev, pgtest
// in every test binary) gets it without a subcommand of its own. It runs
// in its own process group and ignores SIGINT, SIGTERM and SIGHUP, so a
// Ctrl-C to the terminal's group (or a signal to the gateway's group)
// reaches the gateway, whose own shutdown stops the cluster, and not the
// watchdog. Only a SIGKILL of the watchdog itself, or of every process in
// the machine's or container's cgroup, defeats it.
//
// One race is left: killed while pg_ctl start forks the server, before the
// server has written postmaster.pid, the watchdog's pg_ctl stop finds no
// server and the directory goes under a server still starting. That
// server ends itself within a minute: the postmaster rechecks its lock
// file every minute and shuts down at once when it is gone.
type watchdog struct {
	cmd  *exec.Cmd
	w    *os.File // the pipe's write end: closed, the watchdog acts
	once sync.Once
}

// watchdogScript: $1 is the cluster's directory, $2 its data directory,
// $3 pg_ctl, $4 the user the server runs as ("" for this process's).
const watchdogScript = `trap '' INT TERM HUP
if read -r word && [ "$word" = disarm ]; then exit 0; fi
if [ -n "$4" ]; then
	runuser -u "$4" -- "$3" stop -m immediate -w -t 60 -D "$2"
else
	"$3" stop -m immediate -w -t 60 -D "$2"
fi
rm -rf -- "$1"
`

func (c *Cluster) startWatchdog() (*watchdog, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("/bin/sh", "-c", watchdogScript, "gateway-pg-watchdog", c.dir, c.data, filepath.Join(c.bin, "pg_ctl"), c.runAs)
	cmd.Stdin = r // stdout and stderr: /dev/null, so it holds no pipe of ours (go test waits for those)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	_ = r.Close()
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	return &watchdog{cmd: cmd, w: w}, nil
}

// disarm ends the watchdog without it doing anything: the cluster is gone.
func (d *watchdog) disarm() { d.end("disarm\n") }

// fire makes the watchdog stop the server and remove the directory now,
// and waits until it has.
func (d *watchdog) fire() { d.end("") }

func (d *watchdog) end(word string) {
	if d == nil {
		return
	}
	d.once.Do(func() {
		if word != "" {
			_, _ = d.w.WriteString(word)
		}
		_ = d.w.Close()
		_ = d.cmd.Wait()
	})
}
