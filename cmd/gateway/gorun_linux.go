package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
)

// stopWithGoRun makes this process get SIGTERM, and so stop as on any
// SIGTERM, when its parent is go run and go run ends. go run passes no
// signal on to the program it runs: it ignores SIGINT and SIGQUIT (a
// terminal sends those to the program too) and exits at once on SIGTERM,
// leaving the program running without it. The kernel's parent-death
// signal (PR_SET_PDEATHSIG) covers that, and a go run killed outright.
// Only under go run (a parent whose command is "go"): a gateway started by
// a shell or a supervisor is theirs to stop.
func stopWithGoRun() {
	ppid := os.Getppid()
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", ppid))
	if err != nil || strings.TrimSpace(string(comm)) != "go" {
		return
	}
	set := make(chan error)
	go func() {
		// The setting belongs to the calling thread and ends with it: this
		// goroutine keeps its thread for the life of the process.
		runtime.LockOSThread()
		_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0)
		if errno != 0 {
			set <- errno
		} else {
			set <- nil
		}
		select {}
	}()
	if err := <-set; err != nil {
		fmt.Fprintln(os.Stderr, "gateway: cannot stop with go run:", err)
		return
	}
	if os.Getppid() != ppid { // go run ended before the setting took
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}
}
