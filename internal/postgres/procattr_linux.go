package postgres

import "syscall"

// toolProcAttr kills a PostgreSQL tool when the thread that started it
// ends (see Cluster.run).
func toolProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
