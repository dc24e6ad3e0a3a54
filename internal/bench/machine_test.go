package bench

import (
	"math"
	"testing"
)

func TestTheMachineIsBusyForAllButItsIdleAndIOWaitTime(t *testing.T) {
	stat := "cpu  1000 50 300 9000 200 10 40 100 0 0\ncpu0 500 25 150 4500 100 5 20 50 0 0\n"
	got, err := busySeconds(stat)
	// user + nice + system + irq + softirq + steal = 1500 ticks
	if err != nil || math.Abs(got-15) > 1e-9 {
		t.Fatalf("busy %v s (%v), want 15 s", got, err)
	}
	if _, err := busySeconds("intr 1 2 3\n"); err == nil {
		t.Fatal("a /proc/stat without its cpu line read without an error")
	}
}

func TestAPhaseUsesTheMachineInCoresOverItsLength(t *testing.T) {
	m0 := machineMark{busy: 100, self: 10}
	m1 := machineMark{at: m0.at.Add(4e9), busy: 106, self: 11}
	l := m1.since(m0)
	if math.Abs(l.busy-1.5) > 1e-9 || math.Abs(l.self-0.25) > 1e-9 {
		t.Fatalf("load %+v, want 1.5 cores busy of which 0.25 crmbench", l)
	}
}
