package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Server is `crm serve` run as a subprocess on the bench cluster.
type Server struct {
	Bin     string // the crm binary, built once
	DSN     string
	Addr    string // 127.0.0.1:PORT
	LogPath string
	Redis   string

	cmd    *exec.Cmd
	exited chan struct{}
	// PeakRSSMB is the highest VmHWM seen over every process run so far.
	PeakRSSMB float64
}

// buildCRM builds cmd/crm into dir and returns the binary's path.
func buildCRM(ctx context.Context, moduleDir, dir string) (string, error) {
	bin := dir + "/crm"
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/crm")
	cmd.Dir = moduleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/crm: %w: %s", err, out)
	}
	return bin, nil
}

// Capabilities are the operator commands the built binary offers,
// read from its usage text: what is not there is reported "n/a (not built)".
type Capabilities struct {
	NoProjectors bool // crm serve --projectors=false
	Rebuild      bool // crm projections rebuild --all
	Verify       bool // crm projections verify --all
}

func detectCapabilities(ctx context.Context, bin string) Capabilities {
	out, _ := exec.CommandContext(ctx, bin).CombinedOutput() // no command: prints the usage
	u := string(out)
	return Capabilities{
		NoProjectors: strings.Contains(u, "projectors=false") || strings.Contains(u, "-projectors"),
		Rebuild:      strings.Contains(u, "projections rebuild"),
		Verify:       strings.Contains(u, "projections verify"),
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// env is the server's environment: the bench database, a loopback
// address, long-lived tokens and no login rate limit (the bench logs in
// many users from one address).
func (s *Server) env() []string {
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "REDIS_URL=") && !strings.HasPrefix(kv, "HTTP_ADDR=") {
			env = append(env, kv)
		}
	}
	env = append(env, "DATABASE_URL="+s.DSN, "HTTP_ADDR="+s.Addr, "AUTH_RATE_LIMIT=0", "ACCESS_TOKEN_TTL=24h",
		"LOG_LEVEL=warn", "LOG_FORMAT=text", "ENVIRONMENT=development")
	if s.Redis != "" {
		env = append(env, "REDIS_URL="+s.Redis)
	}
	return env
}

// Start runs `crm serve args…` and returns how long it took until
// GET /ready answered 200.
func (s *Server) Start(ctx context.Context, args ...string) (time.Duration, error) {
	if s.cmd != nil {
		return 0, errors.New("server already running")
	}
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== crm serve %s at %s\n", strings.Join(args, " "), time.Now().Format(time.RFC3339))
	cmd := exec.Command(s.Bin, append([]string{"serve"}, args...)...)
	cmd.Env, cmd.Stdout, cmd.Stderr = s.env(), logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.exited) }()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			s.cmd = nil
			return 0, fmt.Errorf("crm serve exited during start-up (see %s)", s.LogPath)
		case <-ctx.Done():
			return 0, ctx.Err()
		default:
		}
		resp, err := hc.Get("http://" + s.Addr + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(started), nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, errors.New("crm serve not ready within 2 minutes")
}

// Pid is the running server's process id (0 when stopped).
func (s *Server) Pid() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// SampleRSS folds the running process's VmHWM into PeakRSSMB.
func (s *Server) SampleRSS() {
	if pid := s.Pid(); pid != 0 {
		s.PeakRSSMB = max(s.PeakRSSMB, vmHWM(pid))
	}
}

// Stop sends SIGTERM and waits (then kills after 30 s).
func (s *Server) Stop() error {
	if s.cmd == nil {
		return nil
	}
	s.SampleRSS()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		err = errors.New("crm serve did not stop within 30 s; killed")
	}
	s.cmd = nil
	return err
}

// readiness is the /ready body.
type readiness struct {
	Status      string `json:"status"`
	Projections []struct {
		Name     string `json:"name"`
		Position int64  `json:"position"`
		Backlog  int64  `json:"backlog"`
	} `json:"projections"`
}

func (s *Server) ready(ctx context.Context) (readiness, error) {
	var rd readiness
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Addr+"/ready", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return rd, err
	}
	defer resp.Body.Close()
	return rd, json.NewDecoder(resp.Body).Decode(&rd)
}

// backlogFunc reports each projector's backlog.
type backlogFunc func(ctx context.Context) (map[string]int64, error)

// waitProjections waits until every projection's backlog is 0, reporting
// progress, at most limit. The backlogs come from the database (as `crm
// projections status` reads them), not from /ready, whose 2 s budget runs
// out under load.
func (s *Server) waitProjections(ctx context.Context, limit time.Duration, backlog backlogFunc, logf func(string, ...any)) (time.Duration, error) {
	start := time.Now()
	lastLog := time.Now()
	var first int64 = -1
	for time.Since(start) < limit {
		bl, err := backlog(ctx)
		if err == nil && len(bl) > 0 {
			var worst int64
			name := ""
			for n, b := range bl {
				if b >= worst {
					worst, name = b, n
				}
			}
			if worst == 0 {
				return time.Since(start), nil
			}
			if first < 0 {
				first = worst
			}
			if time.Since(lastLog) > 5*time.Second {
				lastLog = time.Now()
				done := first - worst
				rate := float64(done) / time.Since(start).Seconds()
				eta := "?"
				if rate > 0 {
					eta = time.Duration(float64(worst) / rate * float64(time.Second)).Round(time.Second).String()
				}
				logf("  projections: slowest %s backlog %d, %.0f events/s, ETA %s", name, worst, rate, eta)
			}
		} else if err != nil && time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			logf("  projections: status: %v", err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return time.Since(start), fmt.Errorf("projections still behind after %s", limit)
}
