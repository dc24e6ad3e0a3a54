// Package localredis runs a throwaway redis-server from the machine's
// binary, for tests (and local runs) on machines without Docker.
//
// The server listens on 127.0.0.1 only and persists nothing (no RDB
// snapshots, no append-only file), because the CRM uses Redis as a cache
// whose loss costs nothing. It runs as a child process in
// its own process group and receives SIGTERM if the caller dies without
// calling Stop, so a crashed test binary leaves no server behind.
package localredis

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"example.com/crm/internal/child"
)

// ErrNotInstalled is returned by Start when no redis-server binary can be
// found; it is one sentence a person can act on.
var ErrNotInstalled = errors.New("redis-server not found: install it with `apt-get install redis-server`")

const (
	startTimeout = 30 * time.Second // until the server answers PING
	stopTimeout  = 10 * time.Second // after SIGTERM, before SIGKILL
	logFileName  = "redis.log"
)

// Options configures Start. The zero value is valid.
type Options struct {
	Dir  string // working directory and log; "" = a temporary one, removed by Stop
	Port int    // 0 = pick a free TCP port on 127.0.0.1
}

// Server is a running redis-server. Stop it when done.
type Server struct {
	port     int
	dir      string
	ownDir   bool // dir was created by Start and is removed by Stop
	proc     *child.Process
	stopOnce sync.Once
	stopErr  error
}

// Start runs redis-server on 127.0.0.1 and waits until it answers PING.
func Start(ctx context.Context, o Options) (*Server, error) {
	bin, err := binary()
	if err != nil {
		return nil, fmt.Errorf("localredis.Start: %w", err)
	}
	s, err := newServer(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("localredis.Start: %w", err)
	}
	if err := s.launchOnFreePort(ctx, bin, o.Port); err != nil {
		s.removeDir()
		return nil, fmt.Errorf("localredis.Start: %w", err)
	}
	return s, nil
}

// URL returns the server's URL for logical database 0:
// redis://127.0.0.1:PORT/0.
func (s *Server) URL() string {
	return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port)
}

// Stop terminates the server (SIGTERM, then SIGKILL after a grace period)
// and removes the temporary directory Start created. It is safe to call
// more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.stopErr = s.terminate()
		s.removeDir()
	})
	return s.stopErr
}

// binary finds redis-server on PATH, or where Debian installs it (for
// callers whose PATH is minimal).
func binary() (string, error) {
	return findBinary(exec.LookPath, []string{"/usr/bin/redis-server", "/usr/local/bin/redis-server"})
}

// findBinary is binary with its sources injectable for tests.
func findBinary(lookPath func(string) (string, error), fallbacks []string) (string, error) {
	if p, err := lookPath("redis-server"); err == nil {
		return p, nil
	}
	for _, p := range fallbacks {
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", ErrNotInstalled
}

// newServer prepares the working directory.
func newServer(dir string) (*Server, error) {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "localredis-")
		if err != nil {
			return nil, err
		}
		return &Server{dir: tmp, ownDir: true}, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return &Server{dir: abs}, os.MkdirAll(abs, 0o700)
}

// launchOnFreePort starts the server on port, or on a free one; a picked
// port can be taken before redis binds it, so it tries up to three.
func (s *Server) launchOnFreePort(ctx context.Context, bin string, port int) error {
	pinned := port != 0
	for attempt := 1; ; attempt++ {
		if !pinned {
			p, err := freePort()
			if err != nil {
				return err
			}
			port = p
		}
		err := s.launch(ctx, bin, port)
		if err == nil || pinned || attempt == 3 || ctx.Err() != nil {
			return err
		}
	}
}

// portFree reports whether port can be bound on 127.0.0.1 right now.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// launch starts redis-server on port and waits until it answers PING. A
// busy port is refused up front: a PING there could be answered by another
// server while ours is still failing to bind.
func (s *Server) launch(ctx context.Context, bin string, port int) error {
	if !portFree(port) {
		return fmt.Errorf("127.0.0.1:%d is already in use", port)
	}
	logFile, err := os.OpenFile(filepath.Join(s.dir, logFileName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(bin,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--protected-mode", "yes",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--daemonize", "no")
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	proc, err := child.Start(cmd)
	if err != nil {
		return err
	}
	s.proc, s.port = proc, port
	if err := s.waitReady(ctx); err != nil {
		s.proc.Kill()
		return err
	}
	return nil
}

// waitReady polls with PING until the server answers or exits.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.proc.Exited():
			return fmt.Errorf("redis-server exited during start-up; end of %s:\n%s", logFileName, s.logTail(10))
		default:
		}
		if ping(ctx, s.port) == nil {
			return nil
		}
		select {
		case <-s.proc.Exited():
			continue // reported above
		case <-ctx.Done():
			return fmt.Errorf("waiting for redis-server to answer PING: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// ping sends one PING in the Redis protocol and expects +PONG.
func ping(ctx context.Context, port int) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// logTail returns the last n lines of the server log, for error messages.
func (s *Server) logTail(n int) string { return child.LogTail(filepath.Join(s.dir, logFileName), n) }

// terminate asks the server to exit and kills it after stopTimeout.
func (s *Server) terminate() error {
	if !s.proc.Stop(syscall.SIGTERM, stopTimeout) {
		return fmt.Errorf("localredis.Stop: redis-server on port %d ignored SIGTERM; killed it", s.port)
	}
	return nil
}

// removeDir deletes the working directory if Start created it.
func (s *Server) removeDir() {
	if s.ownDir {
		_ = os.RemoveAll(s.dir)
	}
}
