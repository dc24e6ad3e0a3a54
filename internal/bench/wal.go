package bench

import (
	"context"
	"fmt"
)

// walMark is a reading of the cluster's WAL counters (pg_stat_wal) and
// its checkpoints so far (pg_stat_bgwriter). Two marks around a phase
// tell how much WAL its commands wrote, and how much of it were full
// page images: the first change of a page after a checkpoint logs the
// whole page, so a phase that follows a checkpoint writes more WAL, and
// spends more CPU in every backend, for the same commands.
type walMark struct {
	records, fpi, bytes, checkpoints float64
	ok                               bool
}

func (r *runner) walMark(ctx context.Context) walMark {
	var m walMark
	err := r.pool.QueryRow(ctx, `SELECT w.wal_records::float8, w.wal_fpi::float8, w.wal_bytes::float8,
		(b.checkpoints_timed + b.checkpoints_req)::float8 FROM pg_stat_wal w, pg_stat_bgwriter b`).
		Scan(&m.records, &m.fpi, &m.bytes, &m.checkpoints)
	m.ok = err == nil
	return m
}

// walUse is the WAL a phase wrote: the difference of two marks.
type walUse walMark

func (m walMark) since(m0 walMark) walUse {
	return walUse{records: m.records - m0.records, fpi: m.fpi - m0.fpi, bytes: m.bytes - m0.bytes,
		checkpoints: m.checkpoints - m0.checkpoints, ok: m.ok && m0.ok}
}

// perOp formats the WAL per operation.
func (w walUse) perOp(n int) string {
	if !w.ok {
		return "WAL n/a"
	}
	d := float64(max(n, 1))
	return fmt.Sprintf("WAL %.0f bytes, %.1f records and %.2f full-page images a command; %.0f checkpoints began",
		w.bytes/d, w.records/d, w.fpi/d, w.checkpoints)
}

// record puts the WAL bytes and records per operation into the report
// (key_bytes_per_cmd, key_records_per_cmd).
func (w walUse) record(rep *Report, key string, n int) {
	if !w.ok || n == 0 {
		return
	}
	rep.Extra[key+"_bytes_per_cmd"] = w.bytes / float64(n)
	rep.Extra[key+"_records_per_cmd"] = w.records / float64(n)
}
