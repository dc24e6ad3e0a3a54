package crm_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// pkg is the part of `go list -json` this test reads.
type pkg struct {
	ImportPath string
	Deps       []string
}

// listPackages runs `go list -deps` over the module's own packages.
func listPackages(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-e", "-json=ImportPath,Deps", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		deps[p.ImportPath] = p.Deps
	}
	return deps
}

const module = "example.com/crm"

func within(path, root string) bool {
	return path == module+"/"+root || strings.HasPrefix(path, module+"/"+root+"/")
}

// The dependency rules of ARCHITECTURE.md: aggregates are pure; the read
// side never reaches into the write side's decisions; nothing imports cmd.
func TestDependenciesPointInward(t *testing.T) {
	t.Parallel()
	deps := listPackages(t)
	rules := []struct {
		from      string
		forbidden []string // packages, with everything below them
		why       string
	}{
		{"aggregates", []string{"github.com/jackc", "github.com/ThreeDotsLabs", "net/http", "github.com/redis", "github.com/gorilla", module + "/events/pgstore", module + "/commands", module + "/projections", module + "/readapi", module + "/httpapi"}, "aggregates are pure"},
		{"readapi", []string{module + "/aggregates", module + "/commands"}, "queries read read models only"},
		{"projections", []string{module + "/aggregates", module + "/commands"}, "projectors only read events"},
		{"commands", []string{module + "/readapi"}, "commands decide on aggregates, never on read models"},
		{"events", []string{module + "/aggregates", module + "/commands", module + "/projections", module + "/readapi"}, "events are the innermost vocabulary"},
	}
	for path, ds := range deps {
		for _, d := range ds {
			if strings.HasPrefix(d, module+"/cmd") {
				t.Errorf("%s imports %s: nothing imports cmd", path, d)
			}
		}
		for _, r := range rules {
			if !within(path, r.from) {
				continue
			}
			for _, d := range ds {
				for _, f := range r.forbidden {
					if d == f || strings.HasPrefix(d, f+"/") {
						t.Errorf("%s depends on %s: %s", path, d, r.why)
					}
				}
			}
		}
	}
}

// aggregates must not read the clock: time is passed in.
func TestAggregatesDoNotReadTheClock(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("grep", "-rn", "--include=*.go", "--exclude=*_test.go", "time.Now()", "aggregates").CombinedOutput()
	if err == nil {
		t.Fatalf("aggregates call time.Now():\n%s", out)
	}
}
