package main

import "golang.org/x/sys/unix"

func syscallKill0(pid int) error { return unix.Kill(pid, 0) }
