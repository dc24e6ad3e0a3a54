package bench

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machineMark is a reading of how busy the whole machine has been so far
// (/proc/stat) and of crmbench's own share. Two marks around a phase
// tell how much of the machine it used: a latency figure means little
// without it (W2 at half of W1's best rate, with its probes and its
// client, kept a 2-core machine 85 % busy before any query ran).
type machineMark struct {
	at         time.Time
	busy, self float64 // CPU seconds: every core's time but idle and iowait; crmbench's
}

func readMachine() machineMark {
	m := machineMark{at: time.Now()}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		m.busy, _ = busySeconds(string(b))
	}
	m.self, _, _ = procCPU(os.Getpid(), false)
	return m
}

// busySeconds sums the first line of /proc/stat ("cpu  user nice system
// idle iowait irq softirq steal …", in USER_HZ ticks) but idle and
// iowait, in seconds. Guest time is part of user time already.
func busySeconds(stat string) (float64, error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("bench: /proc/stat starts with %q", line)
	}
	busy := 0.0
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc/stat: %w", err)
		}
		busy += n
	}
	return busy / clockTicks, nil
}

// machineLoad is what a phase used of the machine, in cores.
type machineLoad struct {
	busy, self float64
	cores      int
}

func (m machineMark) since(m0 machineMark) machineLoad {
	s := m.at.Sub(m0.at).Seconds()
	if s <= 0 {
		return machineLoad{cores: runtime.NumCPU()}
	}
	return machineLoad{busy: (m.busy - m0.busy) / s, self: (m.self - m0.self) / s, cores: runtime.NumCPU()}
}

func (l machineLoad) String() string {
	return fmt.Sprintf("machine %.0f %% busy (%.2f of %d cores; crmbench itself %.2f)", 100*l.busy/float64(l.cores), l.busy, l.cores, l.self)
}
