package bench

import (
	"context"
	"fmt"
	"strings"
)

// cpuMark is a reading of the CPU time spent so far by the server
// process, by the PostgreSQL cluster as a whole, and by each live
// backend, with its application name. Two marks around a phase tell how
// its CPU split between the server's own code, the API's backends, the
// projectors' backends (application_name crm-projectors, internal/app)
// and the rest of PostgreSQL: background processes and backends that
// came and went. The split shows what the projectors cost apart from the
// drift of everything else between two phases (W1: the commands' own
// CPU moved by a third between the phases the CPU ratio compares).
type cpuMark struct {
	server, cluster float64
	backends        map[int]backendCPU
}

type backendCPU struct {
	app string
	cpu float64
}

// The parts of a cpuSplit, in the order they are shown.
const (
	cpuServer     = "server"
	cpuAPI        = "API backends"
	cpuProjectors = "projector backends"
	cpuOtherPG    = "other PostgreSQL"
)

var cpuParts = []string{cpuServer, cpuAPI, cpuProjectors, cpuOtherPG}

// backendPart maps a backend's application name (its backend type when
// it has none) to its part: the API's pools leave the name empty.
var backendPart = map[string]string{"crm-projectors": cpuProjectors, "client backend": cpuAPI}

func (r *runner) cpuMark(ctx context.Context) cpuMark {
	server, _, _ := procCPU(r.srv.Pid(), true)
	m := cpuMark{server: server, cluster: clusterCPU(r.pmPID), backends: map[int]backendCPU{}}
	rows, err := r.pool.Query(ctx, `SELECT pid, coalesce(nullif(application_name, ''), backend_type) FROM pg_stat_activity`)
	if err != nil {
		return m // the split then shows everything as other PostgreSQL
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		var app string
		if rows.Scan(&pid, &app) != nil {
			continue
		}
		if cpu, _, err := procCPU(pid, false); err == nil {
			m.backends[pid] = backendCPU{app, cpu}
		}
	}
	return m
}

// cpuSplit is a phase's CPU seconds by part (cpuParts).
type cpuSplit map[string]float64

// since returns the CPU spent between m0 and m.
func (m cpuMark) since(m0 cpuMark) cpuSplit {
	s := cpuSplit{cpuServer: m.server - m0.server}
	known := 0.0
	for pid, b := range m.backends {
		part, ok := backendPart[b.app]
		if b0, seen := m0.backends[pid]; ok && seen && b0.app == b.app {
			s[part] += b.cpu - b0.cpu
			known += b.cpu - b0.cpu
		}
	}
	s[cpuOtherPG] = m.cluster - m0.cluster - known
	return s
}

func (s cpuSplit) total() float64 {
	t := 0.0
	for _, v := range s {
		t += v
	}
	return t
}

// perOp formats the split in milliseconds per operation.
func (s cpuSplit) perOp(n int) string {
	parts := make([]string, len(cpuParts))
	for i, p := range cpuParts {
		parts[i] = fmt.Sprintf("%s %.3f", p, 1000*s[p]/float64(max(n, 1)))
	}
	return strings.Join(parts, ", ") + " ms"
}
