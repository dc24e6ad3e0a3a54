package bench

import (
	"math"
	"testing"
)

// A phase's CPU splits by what the backends are, and the parts add up
// to what the server and the cluster spent: a backend that came during
// the phase is not known to be anyone's, so it counts as other
// PostgreSQL, with the background processes.
func TestCPUSplitsByBackendAndAddsUp(t *testing.T) {
	before := cpuMark{server: 10, cluster: 100, backends: map[int]backendCPU{
		1: {"client backend", 5}, 2: {"crm-projectors", 7}, 3: {"autovacuum worker", 1},
	}}
	after := cpuMark{server: 12, cluster: 106, backends: map[int]backendCPU{
		1: {"client backend", 7}, 2: {"crm-projectors", 8}, 3: {"autovacuum worker", 1.5},
		4: {"client backend", 0.5}, // connected meanwhile
	}}
	s := after.since(before)
	want := cpuSplit{cpuServer: 2, cpuAPI: 2, cpuProjectors: 1, cpuOtherPG: 3}
	for _, p := range cpuParts {
		if math.Abs(s[p]-want[p]) > 1e-9 {
			t.Errorf("%s: %g, want %g", p, s[p], want[p])
		}
	}
	if s.total() != 8 {
		t.Errorf("total %g, want the server's 2 and the cluster's 6", s.total())
	}
	if got := s.perOp(1000); got != "server 2.000, API backends 2.000, projector backends 1.000, other PostgreSQL 3.000 ms" {
		t.Errorf("perOp: %q", got)
	}
}

func TestWALIsCountedPerCommandOverAPhase(t *testing.T) {
	m0 := walMark{records: 100, fpi: 10, bytes: 10_000, checkpoints: 3, ok: true}
	m1 := walMark{records: 1100, fpi: 60, bytes: 210_000, checkpoints: 4, ok: true}
	if got := m1.since(m0).perOp(100); got != "WAL 2000 bytes, 10.0 records and 0.50 full-page images a command; 1 checkpoints began" {
		t.Errorf("perOp: %q", got)
	}
	if got := m1.since(walMark{}).perOp(100); got != "WAL n/a" {
		t.Errorf("a phase without its first reading: %q", got)
	}
}

func TestTheCPURatioRowShowsTheWALACommandWroteOnAndOff(t *testing.T) {
	r := &runner{rep: &Report{Extra: map[string]any{}}}
	if got := r.walNote(); got != "" {
		t.Fatalf("without WAL figures: %q", got)
	}
	walUse{records: 2400, bytes: 300_000, ok: true}.record(r.rep, "w1_wal", 100)
	walUse{records: 820, bytes: 125_000, ok: true}.record(r.rep, "w1_wal_noproj", 100)
	if got := r.walNote(); got != "; WAL a command 3000 bytes in 24.0 records on, 1250 in 8.2 off" {
		t.Fatalf("walNote: %q", got)
	}
}
