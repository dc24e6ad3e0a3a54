package child

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func start(t *testing.T, name string, args ...string) *Process {
	t.Helper()
	p, err := Start(exec.Command(name, args...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-p.Exited():
		default:
			p.Kill()
		}
	})
	return p
}

// exited reports whether the child has been reaped, without waiting.
func exited(p *Process) bool {
	select {
	case <-p.Exited():
		return true
	default:
		return false
	}
}

func exitedWithin(p *Process, d time.Duration) bool {
	select {
	case <-p.Exited():
		return true
	case <-time.After(d):
		return false
	}
}

func TestKillEndsAndReapsTheChild(t *testing.T) {
	p := start(t, "sleep", "60")
	if exitedWithin(p, 50*time.Millisecond) {
		t.Fatal("sleep 60 exited at once")
	}
	p.Kill()
	if !exited(p) {
		t.Fatal("Exited is not closed after Kill returned")
	}
}

func TestStopReportsAChildThatObeysTheSignal(t *testing.T) {
	p := start(t, "sleep", "60")
	if !p.Stop(syscall.SIGTERM, 10*time.Second) {
		t.Fatal("Stop reports a kill, but sleep exits on SIGTERM")
	}
}

func TestStopKillsAChildThatIgnoresTheSignal(t *testing.T) {
	p := start(t, "sh", "-c", `trap "" TERM; echo ready; sleep 60 & wait`)
	time.Sleep(100 * time.Millisecond) // let the shell set its trap
	if p.Stop(syscall.SIGTERM, 300*time.Millisecond) {
		t.Fatal("Stop reports an exit, but the child ignores SIGTERM")
	}
	if !exited(p) {
		t.Fatal("the child still runs after Stop killed it")
	}
}

func TestStopOnAnExitedChildSendsNothing(t *testing.T) {
	p := start(t, "true")
	if !exitedWithin(p, 10*time.Second) {
		t.Fatal("true did not exit")
	}
	if !p.Stop(syscall.SIGTERM, time.Millisecond) {
		t.Fatal("Stop on an exited child reports a kill")
	}
}

func TestANilProcessNeverExits(t *testing.T) {
	var p *Process
	if p.Exited() != nil {
		t.Fatal("a nil Process has an exit channel")
	}
}

func TestStartReportsAProgramThatCannotRun(t *testing.T) {
	if _, err := Start(exec.Command(filepath.Join(t.TempDir(), "missing"))); err == nil {
		t.Fatal("Start of a missing program succeeded")
	}
}

func TestLogTailKeepsTheLastLinesWithoutTrailingBlanks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.log")
	if err := os.WriteFile(path, []byte("one\ntwo\nthree\nfour\n\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := LogTail(path, 2); got != "three\nfour" {
		t.Errorf("LogTail(2) = %q, want the last two lines", got)
	}
	if got := LogTail(path, 10); got != "one\ntwo\nthree\nfour" {
		t.Errorf("LogTail(10) = %q, want every line", got)
	}
	if got := LogTail(filepath.Join(t.TempDir(), "absent"), 3); got != "" {
		t.Errorf("LogTail of a missing file = %q, want empty", got)
	}
}
