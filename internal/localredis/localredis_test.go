package localredis

import (
	"bufio"
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// start runs a server for the test, skipping on a machine without Redis.
func start(t *testing.T, o Options) *Server {
	t.Helper()
	if _, err := binary(); err != nil {
		t.Skip(err)
	}
	s, err := Start(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// command sends one inline command to the server at rawURL and returns the
// first reply line.
func command(t *testing.T, rawURL, cmd string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte(cmd + "\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}

func TestServerAnswersOnLoopbackWithoutPersistence(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})

	if !strings.HasPrefix(s.URL(), "redis://127.0.0.1:") || !strings.HasSuffix(s.URL(), "/0") {
		t.Errorf("URL = %q", s.URL())
	}
	if got := command(t, s.URL(), "PING"); got != "+PONG" {
		t.Errorf("PING = %q", got)
	}
	// CONFIG GET replies with an array; the value is the fourth line.
	for name, want := range map[string]string{"save": "", "appendonly": "no", "bind": "127.0.0.1"} {
		if got := configGet(t, s.URL(), name); got != want {
			t.Errorf("CONFIG GET %s = %q, want %q", name, got, want)
		}
	}
}

// configGet returns the value of one configuration parameter.
func configGet(t *testing.T, rawURL, name string) string {
	t.Helper()
	u, _ := url.Parse(rawURL)
	conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("CONFIG GET " + name + "\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	var lines []string
	for range 5 { // *2, $len, name, $len, value
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.TrimRight(line, "\r\n"))
	}
	return lines[4]
}

func TestStopIsIdempotentAndRemovesTempDir(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(s.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary dir %s still there: %v", s.dir, err)
	}
	if _, err := net.DialTimeout("tcp", strings.TrimSuffix(strings.TrimPrefix(s.URL(), "redis://"), "/0"), time.Second); err == nil {
		t.Error("server still accepts connections after Stop")
	}
}

func TestGivenDirAndPortAreUsedAndKept(t *testing.T) {
	t.Parallel()
	if _, err := binary(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	// A free port can be taken by a parallel test before the server binds
	// it: try another one then.
	var s *Server
	var port int
	for attempt := 1; ; attempt++ {
		var err error
		if port, err = freePort(); err != nil {
			t.Fatal(err)
		}
		if s, err = Start(t.Context(), Options{Dir: dir, Port: port}); err == nil {
			break
		}
		if !strings.Contains(err.Error(), "already in use") || attempt == 5 {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = s.Stop() })
	if s.port != port {
		t.Errorf("port = %d, want %d", s.port, port)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("caller's dir removed: %v", err)
	}
}

func TestBusyPortIsRefused(t *testing.T) {
	t.Parallel()
	if _, err := binary(); err != nil {
		t.Skip(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Start(t.Context(), Options{Port: l.Addr().(*net.TCPAddr).Port})
	if err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("err = %v, want a busy-port error", err)
	}
}

func TestMissingBinaryMessage(t *testing.T) {
	t.Parallel()
	noPath := func(string) (string, error) { return "", exec.ErrNotFound }
	_, err := findBinary(noPath, []string{t.TempDir() + "/redis-server"})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("err = %v, want ErrNotInstalled", err)
	}
	const want = "redis-server not found: install it with `apt-get install redis-server`"
	if err.Error() != want {
		t.Errorf("message = %q", err)
	}
}
