//go:build !linux

package postgres

import "syscall"

func toolProcAttr() *syscall.SysProcAttr { return nil }
