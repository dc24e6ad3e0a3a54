// Package child runs a private server (PostgreSQL, redis-server) as a
// child process that dies with this one, and reaps it. localpg and
// localredis share it: starting such a child correctly is subtle (see
// Start), stopping it is the same two steps for both.
package child

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Process is a started child. Its embedded *os.Process gives the pid and
// sends signals.
type Process struct {
	*os.Process
	exited chan struct{}
}

// Start starts cmd from a goroutine locked to its OS thread for the
// child's whole life: Linux delivers Pdeathsig (set by the caller in
// cmd.SysProcAttr) when the *thread* that forked the child exits, and the
// Go runtime may retire unlocked threads. The same goroutine reaps the
// child when it exits.
func Start(cmd *exec.Cmd) (*Process, error) {
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	return &Process{Process: cmd.Process, exited: exited}, nil
}

// Exited is closed once the child has been reaped. A nil Process (no
// child: a server started by another process) never exits here.
func (p *Process) Exited() <-chan struct{} {
	if p == nil {
		return nil
	}
	return p.exited
}

// Kill ends the child at once and waits until it is reaped.
func (p *Process) Kill() {
	_ = p.Process.Kill()
	<-p.exited
}

// Stop sends sig, waits up to grace for the child to exit, and kills it
// if it has not. It reports whether the child exited by itself (or had
// already).
func (p *Process) Stop(sig os.Signal, grace time.Duration) bool {
	select {
	case <-p.exited:
		return true
	default:
	}
	_ = p.Signal(sig)
	return p.AwaitOrKill(grace)
}

// AwaitOrKill waits up to grace for the child to exit, and kills it if it
// has not. It reports whether the child exited by itself.
func (p *Process) AwaitOrKill(grace time.Duration) bool {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
		return true
	case <-t.C:
		p.Kill()
		return false
	}
}

// LogTail returns the last n lines of the file at path, trailing blank
// lines left out, for error messages ("" when it cannot be read).
func LogTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n \t"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
