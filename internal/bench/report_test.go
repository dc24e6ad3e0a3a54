package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestJSONHasEveryKeyAndNullWhenNotMeasured(t *testing.T) {
	t.Parallel()
	r := NewReport()
	r.Machine = Machine{NProc: 2, CPU: "test CPU", Go: "go1.26", Postgres: "15"}
	r.Set("w1_ratio_32", 0.123456)
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range Keys {
		if _, ok := m[k]; !ok {
			t.Errorf("key %s missing", k)
		}
	}
	if m["w1_ratio_32"] != 0.123 {
		t.Errorf("w1_ratio_32 = %v, want 0.123 (rounded)", m["w1_ratio_32"])
	}
	if m["w5_p99_ms"] != nil {
		t.Errorf("unmeasured w5_p99_ms = %v, want null", m["w5_p99_ms"])
	}
	if !strings.Contains(m["machine"].(string), "nproc=2") {
		t.Errorf("machine = %v", m["machine"])
	}
}

func TestPassFollowsTheBarsDirection(t *testing.T) {
	t.Parallel()
	r := NewReport()
	r.Set("w1_ratio_32", 0.7) // ≥ 0.60
	r.Set("w5_p99_ms", 12)    // ≤ 10
	if pass, ok := r.Pass("w1_ratio_32"); !ok || !pass {
		t.Errorf("w1_ratio_32 0.7: pass=%v ok=%v", pass, ok)
	}
	if pass, ok := r.Pass("w5_p99_ms"); !ok || pass {
		t.Errorf("w5_p99_ms 12: pass=%v ok=%v", pass, ok)
	}
	if _, ok := r.Pass("w6_commits_per_s"); ok {
		t.Error("an unmeasured figure has no verdict")
	}
}

func TestWriteFilesKeepsAndAppendsHistory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	md, js := filepath.Join(dir, "b.md"), filepath.Join(dir, "b.json")
	first := NewReport()
	first.Settings = "scale 1"
	first.Set("w5_p99_ms", 20)
	first.Rows = []Row{{Workload: "W5", Figure: "p99", Key: "w5_p99_ms", Value: first.Figures["w5_p99_ms"], Unit: "ms"}}
	if err := first.WriteFiles(md, js); err != nil {
		t.Fatal(err)
	}
	second := NewReport()
	second.Settings = "scale 1"
	second.Set("w5_p99_ms", 8)
	second.Rows = []Row{{Workload: "W5", Figure: "p99", Key: "w5_p99_ms", Value: second.Figures["w5_p99_ms"], Unit: "ms"}}
	if err := second.WriteFiles(md, js); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if n := strings.Count(s, "\n- "); n != 2 {
		t.Errorf("history has %d entries, want 2:\n%s", n, s)
	}
	if !strings.Contains(s, "w5_p99_ms 20 → 8") {
		t.Errorf("no before → after entry:\n%s", s)
	}
	if !strings.Contains(s, "| W5 | p99 | 8 ms |") || !strings.Contains(s, "| pass |") {
		t.Errorf("table row missing or without verdict:\n%s", s)
	}
	if err := CheckJSON(js); err != nil {
		t.Error(err)
	}
}

func TestPercentileNearestRank(t *testing.T) {
	t.Parallel()
	var d []int
	for i := 1; i <= 100; i++ {
		d = append(d, i)
	}
	durs := make([]time.Duration, len(d))
	for i, v := range d {
		durs[i] = time.Duration(v)
	}
	if p := Percentile(durs, 0.99); p != 99 {
		t.Errorf("p99 of 1..100 = %d, want 99", p)
	}
	if p := Percentile(durs, 0.5); p != 50 {
		t.Errorf("p50 of 1..100 = %d, want 50", p)
	}
	if p := Percentile(nil, 0.5); p != 0 {
		t.Errorf("p50 of nothing = %d", p)
	}
}
