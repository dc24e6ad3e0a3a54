package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"example.com/crm/internal/app"
)

// The Dockerfile's go build line, run as it is (version build argument
// substituted, output into a temporary folder), gives a static binary
// that reports the version it was built with, and whose `crm health`
// fails cleanly when no server answers.
func TestBinaryBuiltLikeTheDockerfile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	t.Parallel()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	line := dockerfileBuildLine(t, filepath.Join(root, "Dockerfile"))
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}", "-o /out/crm", "./cmd/crm"} {
		if !strings.Contains(line, want) {
			t.Fatalf("the Dockerfile's build line lacks %q: %s", want, line)
		}
	}
	const version = "v1.2.3-test+abc"
	dir := t.TempDir()
	bin := filepath.Join(dir, "crm")
	build := exec.Command("sh", "-c", strings.NewReplacer("${VERSION}", version, "/out/crm", bin).Replace(line))
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	libs, _ := f.ImportedLibraries()
	if f.Section(".interp") != nil || len(libs) > 0 {
		t.Errorf("the binary is not static: interpreter %v, libraries %v", f.Section(".interp") != nil, libs)
	}
	f.Close()

	crm := func(env []string, args ...string) (string, string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir // no .env there
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	out, _, err := crm(nil, "version")
	if err != nil || strings.TrimSpace(out) != version {
		t.Errorf("crm version = %q, %v; want %q", out, err, version)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	out, errOut, err := crm([]string{"HTTP_ADDR=" + addr}, "health")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("crm health with no server: %v (stdout %q, stderr %q); want exit status 1", err, out, errOut)
	}
	if !strings.HasPrefix(errOut, "crm: health: ") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("crm health with no server says %q; want one line starting crm: health:", errOut)
	}
}

func dockerfileBuildLine(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "RUN ") && strings.Contains(l, "go build") {
			lines = append(lines, strings.TrimPrefix(l, "RUN "))
		}
	}
	if len(lines) != 1 {
		t.Fatalf("want one RUN … go build line in the Dockerfile, found %d", len(lines))
	}
	return lines[0]
}

func TestHealthCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ addr, want string }{
		{":8000", "http://127.0.0.1:8000/health"},
		{"0.0.0.0:8000", "http://127.0.0.1:8000/health"},
		{"[::]:8000", "http://127.0.0.1:8000/health"},
		{"10.0.0.5:9000", "http://10.0.0.5:9000/health"},
		{"[::1]:9000", "http://[::1]:9000/health"},
	} {
		if got, err := healthURL(tc.addr); err != nil || got != tc.want {
			t.Errorf("healthURL(%q) = %q, %v; want %q", tc.addr, got, err, tc.want)
		}
	}
	if _, err := healthURL("8000"); err == nil {
		t.Error("healthURL(8000): want an error")
	}

	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	var out bytes.Buffer
	if err := healthCommand(context.Background(), addr, &out); err != nil {
		t.Errorf("healthy server: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := healthCommand(context.Background(), addr, &out); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("unhealthy server: %v; want an error naming 503", err)
	}
}

// .env.example documents exactly the variables the configuration reads.
func TestEnvExampleListsEveryVariable(t *testing.T) {
	t.Parallel()
	var read []string
	_, _ = app.LoadConfig(func(k string) string { read = append(read, k); return "" })
	slices.Sort(read)
	read = slices.Compact(read)

	f, err := os.Open("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	re := regexp.MustCompile(`^#?([A-Z][A-Z0-9_]*)=`)
	var documented []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			documented = append(documented, m[1])
		}
	}
	slices.Sort(documented)
	documented = slices.Compact(documented)
	if !slices.Equal(read, documented) {
		t.Errorf(".env.example documents %v;\nthe configuration reads %v", documented, read)
	}
}
