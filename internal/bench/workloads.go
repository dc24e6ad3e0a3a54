package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"example.com/crm/internal/app"
	"example.com/crm/projections"
)

const maxOps = 5_000_000 // a bound on every closed loop, far above what 2 cores reach

// ensureActors prepares n W1 clients, each in its own organization:
// "many orgs, tokens reused". A few users are registered (bcrypt is the
// server's slowest operation, and W1 does not measure registration) and
// each creates further organizations with POST /organizations.
func (r *runner) ensureActors(ctx context.Context, n int) error {
	if err := r.ensureServer(ctx); err != nil {
		return err
	}
	const orgsPerUser = 8
	var owner *Session
	for len(r.actors) < n {
		i := len(r.actors)
		var s *Session
		if i%orgsPerUser == 0 {
			var err error
			owner, err = r.client.register(ctx, fmt.Sprintf("bench-%d-%d@example.com", time.Now().UnixNano(), i), "bench-password-1", fmt.Sprintf("Bench user %d", i))
			if err != nil {
				return err
			}
			s = owner
		} else {
			resp, err := owner.Do(ctx, http.MethodPost, "/api/v1/organizations", map[string]any{"name": fmt.Sprintf("Bench org %d", i)}, http.StatusCreated)
			if err != nil {
				return err
			}
			s = &Session{c: r.client, Token: owner.Token, Org: resp.ID(), User: owner.User}
		}
		a := &actor{s: s, rng: rand.New(rand.NewPCG(uint64(i), 42))}
		if err := a.prepare(ctx); err != nil {
			return err
		}
		r.actors = append(r.actors, a)
	}
	return nil
}

// runW1 runs the command mix at `clients` for dur.
func (r *runner) runW1(ctx context.Context, clients int, dur time.Duration) Summary {
	return closedLoop(ctx, clients, dur, maxOps, func(ctx context.Context, c int) error { return r.actors[c].step(ctx) })
}

// w1WarmUp is how long W1 runs unmeasured on a server just started,
// before a phase measured at 8 clients. Its first seconds cost more per
// command (new connections, empty state and row caches): in 5 s slices
// after a restart, the server's CPU per command was 0.55 ms in the first
// and 0.38–0.44 in the five after it, and the backends connecting
// meanwhile blur the CPU split (cpuMark). A 2 s warm-up left part of
// that in whichever phase followed a restart.
func (r *runner) w1WarmUp() time.Duration { return min(r.cfg.Duration, 10*time.Second) }

// w1 measures the command mix at 1, 8 and 32 clients, and the CPU per
// command with and without projectors (at 8 clients).
func (r *runner) w1(ctx context.Context) error {
	if err := r.ensureActors(ctx, 32); err != nil {
		return err
	}
	r.runW1(ctx, 8, r.w1WarmUp()) // unmeasured
	var with1 cpuSplit            // at 8 clients, and its commands
	var with1N int
	for _, c := range []int{1, 8, 32} {
		m0, w0 := r.cpuMark(ctx), r.walMark(ctx)
		s := r.runW1(ctx, c, r.cfg.Duration)
		split, wal := r.cpuMark(ctx).since(m0), r.walMark(ctx).since(w0)
		cpu := split.total()
		r.rep.Extra[fmt.Sprintf("w1_rate_%d", c)] = s.Rate
		r.rep.Extra[fmt.Sprintf("w1_p50_ms_%d", c)] = s.P50
		r.rep.Extra[fmt.Sprintf("w1_p99_ms_%d", c)] = s.P99
		r.rep.Extra[fmt.Sprintf("w1_errors_%d", c)] = s.Errors
		if ins, ok := r.limits[fmt.Sprintf("insert_%d", c)]; ok && ins > 0 {
			r.rep.Extra[fmt.Sprintf("w1_ratio_%d", c)] = s.Rate / ins
		}
		r.w1Best = max(r.w1Best, s.Rate)
		r.logf("  W1 at %2d clients: %.0f commands/s, p50 %.1f ms, p99 %.1f ms, %d errors, CPU %.2f ms/command",
			c, s.Rate, s.P50, s.P99, s.Errors, 1000*cpu/float64(max(s.N, 1)))
		if c == 8 {
			r.rep.Set("w1_p99_ms_8", s.P99)
			r.cpuPerOp[true] = cpu / float64(max(s.N, 1))
			r.rep.Extra["w1_cpu_ms_per_cmd"] = 1000 * r.cpuPerOp[true]
			with1, with1N = split, s.N
			r.logf("    of which %s; %s", split.perOp(s.N), wal.perOp(s.N))
			wal.record(r.rep, "w1_wal", s.N)
		}
		if c == 32 {
			if ins, ok := r.limits["insert_32"]; ok && ins > 0 {
				r.rep.Set("w1_ratio_32", s.Rate/ins)
			} else {
				r.rep.Extra["na_w1_ratio_32"] = "the LIMITS phase did not run"
			}
		}
	}
	if !r.caps.NoProjectors {
		r.rep.Extra["na_w1_cpu_ratio"] = "crm serve --projectors=false not built yet"
		r.logf("  W1 CPU ratio: n/a (crm serve --projectors=false not built yet)")
		return nil
	}
	if err := r.srv.Stop(); err != nil {
		return err
	}
	if _, err := r.srv.Start(ctx, "--projectors=false"); err != nil {
		return err
	}
	// Each restarted server warms up first, as the first one did: new
	// connections and caches cost CPU the steady state does not.
	r.runW1(ctx, 8, r.w1WarmUp())
	m0, w0 := r.cpuMark(ctx), r.walMark(ctx)
	s := r.runW1(ctx, 8, r.cfg.Duration)
	off, offWAL := r.cpuMark(ctx).since(m0), r.walMark(ctx).since(w0)
	cpu := off.total()
	r.srv.SampleRSS()
	if err := r.srv.Stop(); err != nil {
		return err
	}
	noProj := cpu / float64(max(s.N, 1))
	r.rep.Extra["w1_cpu_ms_per_cmd_noproj"] = 1000 * noProj
	r.rep.Extra["w1_rate_8_noproj"] = s.Rate
	r.logf("  W1 at 8 clients without projectors: %.0f commands/s, CPU %.2f ms/command", s.Rate, 1000*noProj)
	r.logf("    of which %s; %s", off.perOp(s.N), offWAL.perOp(s.N))
	offWAL.record(r.rep, "w1_wal_noproj", s.N)
	if err := r.ensureServer(ctx); err != nil {
		return err
	}
	if _, err := r.srv.waitProjections(ctx, 10*time.Minute, r.backlogs, r.logf); err != nil {
		return err
	}
	// The catch-up just rewrote a phase's worth of rows in bulk; left to
	// autovacuum, their cleanup fell into the phase below (up to 0.17 ms
	// a command of "other PostgreSQL", and the rest of the machine slower
	// beside it), a cost of the bench's artificial backlog, not of
	// projecting as commands come.
	if err := r.vacuum(ctx, "the catch-up"); err != nil {
		return err
	}
	// The phase with projectors again, after the one without: the ratio
	// takes the mean of the two around it, so a slow spell of the host
	// during one phase does not pass for the projectors' cost (on a
	// shared VM one 10 s phase moves by ±20 %).
	r.runW1(ctx, 8, r.w1WarmUp())
	if _, err := r.srv.waitProjections(ctx, 10*time.Minute, r.backlogs, r.logf); err != nil {
		return err
	}
	m0, w0 = r.cpuMark(ctx), r.walMark(ctx)
	s2 := r.runW1(ctx, 8, r.cfg.Duration)
	again, againWAL := r.cpuMark(ctx).since(m0), r.walMark(ctx).since(w0)
	with2 := again.total() / float64(max(s2.N, 1))
	with := (r.cpuPerOp[true] + with2) / 2
	r.rep.Extra["w1_cpu_ms_per_cmd_after"] = 1000 * with2
	r.rep.Extra["w1_rate_8_after"] = s2.Rate
	if noProj > 0 {
		r.rep.Set("w1_cpu_ratio", with/noProj)
	}
	r.logf("  W1 at 8 clients with projectors again: %.0f commands/s, CPU %.2f ms/command; ratio (mean of %.2f and %.2f) / %.2f = %.2f",
		s2.Rate, 1000*with2, 1000*r.cpuPerOp[true], 1000*with2, 1000*noProj, with/max(noProj, 1e-9))
	r.logf("    of which %s; %s", again.perOp(s2.N), againWAL.perOp(s2.N))
	// The projectors' own backends, apart from how the rest moved.
	r.rep.Extra["w1_cpu_ms_per_cmd_projector_backends"] = 1000 * (with1[cpuProjectors]/float64(max(with1N, 1)) +
		again[cpuProjectors]/float64(max(s2.N, 1))) / 2
	_, err := r.srv.waitProjections(ctx, 10*time.Minute, r.backlogs, r.logf)
	return err
}

// lagProbe measures, for a sample of commands, the time from the
// command's acknowledgement until the read model shows it: the deal's
// version (GET /deals/{id}) and, for a sample, the analytics summary's
// as_of_position.
//
// By default a sample is one read-your-writes query (no Consistency
// header): the server answers once its projectors have passed every
// event of the organization committed before the query began, so the
// answer arrives when the change is readable, as a client using the API
// as documented sees it. Should that answer not show the change (a
// read-your-writes violation, counted in stale) or be a 503, the probe
// goes on polling.
//
// With poll (crmbench -lag-poll), a sample reads with Consistency:
// eventual every millisecond until the change shows: ten or so reads per
// sample at a lag of 10 ms, about 1,500 reads/s at 500 commands/s, which
// on two cores slows the pipeline they measure.
//
// Beside them, the probe times two floors, each for a sample of
// commands, sent at the acknowledgement: the read's (GET /deals/{id}
// with Consistency: eventual, which waits for no projector) and HTTP's
// (GET /health, which touches no database). The lag can be no shorter
// than a read is under the same load, whatever the projectors do, so the
// floors tell the pipeline's share of the lag from the read's own, and
// the read's from what any request costs on the machine at that moment.
//
// At most probeSlots samples of each kind run at once; a command
// acknowledged while they are busy is not sampled.
type lagProbe struct {
	poll                 bool
	deal, analytics      Recorder
	dealSem, analytSem   chan struct{}
	readFloor, httpFloor floorProbe
	n503, stale          atomic.Int64
	timedOut, unsampled  atomic.Int64
	wg                   sync.WaitGroup
}

const (
	probeSlots   = 2
	probeTimeout = 10 * time.Second
)

func newLagProbe(poll bool) *lagProbe {
	return &lagProbe{poll: poll, dealSem: make(chan struct{}, probeSlots), analytSem: make(chan struct{}, probeSlots),
		readFloor: newFloorProbe(), httpFloor: newFloorProbe()}
}

// floorProbe times one request, sent at a command's acknowledgement, for
// a sample of commands (see lagProbe).
type floorProbe struct {
	rec Recorder
	sem chan struct{}
}

func newFloorProbe() floorProbe { return floorProbe{sem: make(chan struct{}, probeSlots)} }

// watch sends the request unless probeSlots of them are in flight.
func (f *floorProbe) watch(wg *sync.WaitGroup, acked time.Time, send func() error) {
	select {
	case f.sem <- struct{}{}:
	default:
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() { <-f.sem }()
		if err := send(); err != nil {
			noteError(err)
			return
		}
		f.rec.Add(time.Since(acked))
	}()
}

func (p *lagProbe) watch(ctx context.Context, s *Session, d *dealRef, version int, position int64, acked time.Time) {
	// sample reads path until shows says the change is there: the first
	// read waits for the projections unless the probe polls.
	sample := func(rec *Recorder, sem chan struct{}, path string, shows func(Response) bool) {
		defer p.wg.Done()
		defer func() { <-sem }()
		deadline := acked.Add(probeTimeout)
		for first := true; time.Now().Before(deadline) && ctx.Err() == nil; first = false {
			var resp Response
			var err error
			if first && !p.poll {
				resp, err = s.Do(ctx, http.MethodGet, path, nil)
			} else {
				resp, err = s.Eventual(ctx, path)
			}
			switch {
			case isStatus(err, http.StatusServiceUnavailable):
				p.n503.Add(1)
			case err != nil:
				noteError(err)
			case shows(resp):
				rec.Add(time.Since(acked))
				return
			case first && !p.poll:
				p.stale.Add(1)
			}
			time.Sleep(time.Millisecond)
		}
		// A probe that times out counts as the timeout (a lower bound),
		// so the percentiles cannot hide it.
		rec.Add(probeTimeout)
		p.timedOut.Add(1)
	}
	select {
	case p.dealSem <- struct{}{}:
	default:
		p.unsampled.Add(1)
		return
	}
	p.wg.Add(1)
	go sample(&p.deal, p.dealSem, "/api/v1/deals/"+d.id, func(resp Response) bool { return resp.Version() >= version })
	p.readFloor.watch(&p.wg, acked, func() error {
		_, err := s.Eventual(ctx, "/api/v1/deals/"+d.id)
		return err
	})
	p.httpFloor.watch(&p.wg, acked, func() error {
		_, err := s.Do(ctx, http.MethodGet, "/health", nil)
		return err
	})
	if position == 0 {
		return
	}
	select {
	case p.analytSem <- struct{}{}:
	default:
		return
	}
	p.wg.Add(1)
	go sample(&p.analytics, p.analytSem, "/api/v1/analytics/deals/summary", func(resp Response) bool {
		var b struct {
			AsOf int64 `json:"as_of_position"`
		}
		return json.Unmarshal(resp.Body, &b) == nil && b.AsOf >= position
	})
}

// recordFloor stores the floors' percentiles (key_floor_* for the read's,
// key_http_floor_* for HTTP's) and says them in a phrase for the log.
func (p *lagProbe) recordFloor(r *runner, key string) string {
	rf, hf := p.readFloor.rec.Summarize(0), p.httpFloor.rec.Summarize(0)
	if rf.N == 0 || hf.N == 0 {
		return "floors not sampled"
	}
	r.rep.Extra[key+"_floor_p50_ms"], r.rep.Extra[key+"_floor_p99_ms"] = rf.P50, rf.P99
	r.rep.Extra[key+"_http_floor_p50_ms"], r.rep.Extra[key+"_http_floor_p99_ms"] = hf.P50, hf.P99
	return fmt.Sprintf("floors sent at the acknowledgement: an eventual read (%d sampled) p50 %.1f ms, p99 %.1f ms, GET /health (%d) p50 %.1f ms, p99 %.1f ms",
		rf.N, rf.P50, rf.P99, hf.N, hf.P50, hf.P99)
}

// lagRun offers PATCH /deals commands at rate for dur on every actor and
// measures their projection lag.
func (r *runner) lagRun(ctx context.Context, rate float64, dur time.Duration) (*lagProbe, Summary, int64) {
	p := newLagProbe(r.cfg.LagPoll)
	outer := ctx // the probes outlive the open loop's context
	s, missed := openLoop(ctx, rate, len(r.actors), dur, func(ctx context.Context, w int) error {
		a := r.actors[w]
		d, resp, err := a.patchDeal(ctx)
		if err != nil {
			return err
		}
		p.watch(outer, a.s, d, resp.Version(), resp.Position(), time.Now())
		return nil
	})
	p.wg.Wait()
	return p, s, missed
}

// insideServer runs f and reports what the server's own histograms saw
// meanwhile: each event's projection delay (append start → read-model
// commit), the part of it until the log read that returned it, the
// append's own part (append start → commit; absent from older servers)
// and the time to apply a batch. Beside the lag measured from outside,
// they tell the pipeline's share from the probes' and HTTP's, and the
// wait for the projectors from the append.
func (r *runner) insideServer(ctx context.Context, key string, f func()) {
	names := []string{"crm_projection_delay_seconds", "crm_projection_batch_apply_seconds",
		"crm_projection_read_delay_seconds", "crm_event_append_seconds"}
	scrape := func() ([]histogram, error) {
		hs := make([]histogram, len(names))
		for i, n := range names {
			var err error
			if hs[i], err = r.client.scrapeHistogram(ctx, n); err != nil {
				return nil, err
			}
		}
		return hs, nil
	}
	const readRows, knownRows = `crm_projection_batches_total{rows="read"}`, `crm_projection_batches_total{rows="known"}`
	counts := func() (read, known float64, err error) {
		read, err = r.client.scrapeSample(ctx, readRows)
		if err == nil {
			known, err = r.client.scrapeSample(ctx, knownRows)
		}
		return read, known, err
	}
	h0, err0 := scrape()
	read0, known0, errc0 := counts()
	f()
	h1, err1 := scrape()
	read1, known1, errc1 := counts()
	if err := errors.Join(err0, err1, errc0, errc1); err != nil {
		r.logf("  %s: the server's histograms could not be read: %v", key, err)
		return
	}
	d, a, rd, ap := h1[0].minus(h0[0]), h1[1].minus(h0[1]), h1[2].minus(h0[2]), h1[3].minus(h0[3])
	if d.count == 0 || a.count == 0 {
		return // an older binary, or nothing projected
	}
	r.rep.Extra[key+"_server_delay_p50_ms"] = 1000 * d.quantile(0.5)
	r.rep.Extra[key+"_server_delay_p99_ms"] = 1000 * d.quantile(0.99)
	r.rep.Extra[key+"_batch_apply_mean_ms"] = 1000 * a.mean()
	r.rep.Extra[key+"_batch_events_mean"] = d.count / a.count
	r.rep.Extra[key+"_server_read_delay_p50_ms"] = 1000 * rd.quantile(0.5)
	r.rep.Extra[key+"_server_read_delay_p99_ms"] = 1000 * rd.quantile(0.99)
	appendNote := ""
	if ap.count > 0 {
		r.rep.Extra[key+"_server_append_p50_ms"] = 1000 * ap.quantile(0.5)
		r.rep.Extra[key+"_server_append_p99_ms"] = 1000 * ap.quantile(0.99)
		appendNote = fmt.Sprintf(" (the append itself p50 ≈ %.1f ms, p99 ≈ %.1f ms)", 1000*ap.quantile(0.5), 1000*ap.quantile(0.99))
	}
	readNote := ""
	if n := (read1 - read0) + (known1 - known0); n > 0 {
		share := 100 * (read1 - read0) / n
		r.rep.Extra[key+"_batches_reading_rows_pct"] = share
		readNote = fmt.Sprintf(", %.0f %% of them reading rows first (not in the row caches)", share)
	}
	r.logf("  %s inside the server: delay (append start → read models committed) p50 ≈ %.1f ms, p99 ≈ %.1f ms, of which until read p50 ≈ %.1f ms, p99 ≈ %.1f ms%s; %.0f batches, %.1f events and %.2f ms each on average%s",
		key, 1000*d.quantile(0.5), 1000*d.quantile(0.99), 1000*rd.quantile(0.5), 1000*rd.quantile(0.99), appendNote, a.count, d.count/a.count, 1000*a.mean(), readNote)
}

// machineDuring runs f and records how busy the machine was meanwhile
// (key_machine_busy_cores, key_crmbench_cores).
func (r *runner) machineDuring(key string, f func()) machineLoad {
	m0 := readMachine()
	f()
	l := readMachine().since(m0)
	r.rep.Extra[key+"_machine_busy_cores"] = l.busy
	r.rep.Extra[key+"_crmbench_cores"] = l.self
	r.rep.Extra["machine_cores"] = l.cores
	return l
}

// w2 measures projection lag at half of W1's best rate, alone and under
// the W3 query mix, and the drain after a burst.
func (r *runner) w2(ctx context.Context) error {
	if err := r.ensureActors(ctx, 32); err != nil {
		return err
	}
	if _, err := r.srv.waitProjections(ctx, 10*time.Minute, r.backlogs, r.logf); err != nil {
		return err
	}
	rate := r.w1Best / 2
	if r.cfg.W2Rate > 0 {
		rate = r.cfg.W2Rate
		r.rep.Notes = append(r.rep.Notes, fmt.Sprintf("W2: lag measured at %.0f commands/s (-w2-rate), not at half of W1's best", rate))
	} else if rate == 0 {
		rate = 100
		r.rep.Notes = append(r.rep.Notes, "W2: W1 did not run; lag measured at 100 commands/s")
	}
	r.rep.Extra["w2_rate"] = rate
	var (
		p      *lagProbe
		s      Summary
		missed int64
	)
	load := r.machineDuring("w2", func() {
		r.insideServer(ctx, "w2", func() { p, s, missed = r.lagRun(ctx, rate, r.cfg.Duration) })
	})
	dl, al := p.deal.Summarize(0), p.analytics.Summarize(0)
	if dl.N > 0 {
		r.rep.Set("w2_p50_ms", dl.P50)
		r.rep.Set("w2_p99_ms", dl.P99)
	}
	if al.N > 0 {
		r.rep.Extra["w2_analytics_p50_ms"], r.rep.Extra["w2_analytics_p99_ms"] = al.P50, al.P99
	}
	floorNote := p.recordFloor(r, "w2")
	r.rep.Extra["w2_timed_out"] = p.timedOut.Load()
	r.rep.Extra["w2_sampled"] = dl.N
	r.rep.Extra["w2_stale_reads"] = p.stale.Load()
	if r.cfg.LagPoll {
		r.rep.Notes = append(r.rep.Notes, "W2: lag probed by polling with Consistency: eventual (-lag-poll), not by read-your-writes reads")
	}
	n503 := p.n503.Load() + s.S503
	r.logf("  W2 alone at %.0f/s (%d sent, %d missed ticks, %d sampled): lag p50 %.1f ms, p99 %.1f ms (%d timed out, %d stale read-your-writes reads); analytics p50 %.1f / p99 %.1f ms; %s; %s",
		rate, s.N, missed, dl.N, dl.P50, dl.P99, p.timedOut.Load(), p.stale.Load(), al.P50, al.P99, floorNote, load)

	// The same at half that rate (a quarter of W1's best unless -w2-rate
	// set it: the w2_quarter keys): not a bar, the bar's cause. The lag is
	// the time a change waits for a core at each hop, so it follows how
	// busy the machine is; this phase says how low it gets with the
	// pipeline unchanged and the cores less busy.
	var pq *lagProbe
	quarter := r.machineDuring("w2_quarter", func() {
		r.insideServer(ctx, "w2_quarter", func() { pq, _, _ = r.lagRun(ctx, rate/2, r.cfg.Duration) })
	})
	if dq := pq.deal.Summarize(0); dq.N > 0 {
		r.rep.Extra["w2_quarter_rate"] = rate / 2
		r.rep.Extra["w2_quarter_p50_ms"], r.rep.Extra["w2_quarter_p99_ms"] = dq.P50, dq.P99
		r.logf("  W2 alone at %.0f/s: lag p50 %.1f ms, p99 %.1f ms; %s; %s", rate/2, dq.P50, dq.P99, pq.recordFloor(r, "w2_quarter"), quarter)
	}
	n503 += pq.n503.Load()

	if r.big != nil {
		stop := make(chan struct{})
		var mix Summary
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			mix = r.queryMix(ctx, 8, r.cfg.Duration+time.Second, stop)
		}()
		var (
			p2 *lagProbe
			s2 Summary
		)
		load := r.machineDuring("w2_loaded", func() {
			r.insideServer(ctx, "w2_loaded", func() { p2, s2, _ = r.lagRun(ctx, rate, r.cfg.Duration) })
		})
		close(stop)
		wg.Wait()
		dl2, al2 := p2.deal.Summarize(0), p2.analytics.Summarize(0)
		if dl2.N > 0 {
			r.rep.Set("w2_loaded_p99_ms", dl2.P99)
			r.rep.Extra["w2_loaded_p50_ms"] = dl2.P50
		}
		if al2.N > 0 {
			r.rep.Extra["w2_loaded_analytics_p99_ms"] = al2.P99
		}
		r.rep.Extra["w2_loaded_timed_out"] = p2.timedOut.Load()
		r.rep.Extra["w2_loaded_stale_reads"] = p2.stale.Load()
		r.rep.Extra["w2_loaded_mix_rate"] = mix.Rate
		n503 += p2.n503.Load() + s2.S503 + mix.S503
		r.logf("  W2 under the query mix (%.0f queries/s, %d 503): lag p50 %.1f ms, p99 %.1f ms; analytics p99 %.1f ms; %s; %s",
			mix.Rate, mix.S503, dl2.P50, dl2.P99, al2.P99, p2.recordFloor(r, "w2_loaded"), load)
	} else {
		r.rep.Extra["na_w2_loaded_p99_ms"] = "no seeded organization for the query mix"
	}
	r.rep.Set("w2_503", float64(n503))

	// Drain: a burst at 32 clients, then a deal created at its end.
	burst := r.runW1(ctx, 32, r.cfg.Burst)
	a := r.actors[0]
	resp, err := a.createDeal(ctx)
	if err != nil {
		return err
	}
	acked := time.Now()
	id := resp.ID()
	for time.Since(acked) < 2*time.Minute {
		if _, err := a.s.Eventual(ctx, "/api/v1/deals/"+id); err == nil {
			r.rep.Set("w2_drain_ms", ms(time.Since(acked)))
			r.logf("  W2 drain after a %s burst (%.0f commands/s at 32): %.0f ms", r.cfg.Burst, burst.Rate, ms(time.Since(acked)))
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	r.rep.Extra["na_w2_drain_ms"] = "not readable within 2 minutes"
	return nil
}

// w3Query is one query of the W3 mix.
type w3Query struct {
	key, name string
	path      func(rng *rand.Rand, r *runner) string
}

var lastNamesForSearch = []string{"Lovelace", "Turing", "Hopper", "Knuth", "Lamport", "Pike"}

var w3Queries = []w3Query{
	{"deals", "GET /deals filtered + sorted page", func(rng *rand.Rand, _ *runner) string {
		return fmt.Sprintf("/api/v1/deals?status=in_progress&stage=proposal&stage=negotiation&order_by=amount&order=desc&page=%d&page_size=20", 1+rng.IntN(5))
	}},
	{"contacts_search", "GET /contacts?search=", func(rng *rand.Rand, _ *runner) string {
		return "/api/v1/contacts?search=" + lastNamesForSearch[rng.IntN(len(lastNamesForSearch))] + "&page_size=20"
	}},
	{"tasks_due", "GET /tasks?due_before=", func(rng *rand.Rand, _ *runner) string {
		return "/api/v1/tasks?only_open=true&due_before=" + time.Now().UTC().AddDate(0, 0, rng.IntN(14)).Format(time.DateOnly) + "&page_size=20"
	}},
	{"timeline", "GET /deals/{id}/activities", func(rng *rand.Rand, r *runner) string {
		ids := r.data.Main.SampleDeals
		return "/api/v1/deals/" + ids[rng.IntN(len(ids))].String() + "/activities?page_size=20"
	}},
	{"summary", "GET /analytics/deals/summary", func(*rand.Rand, *runner) string { return "/api/v1/analytics/deals/summary" }},
	{"funnel", "GET /analytics/deals/funnel", func(*rand.Rand, *runner) string { return "/api/v1/analytics/deals/funnel" }},
}

// queryMix runs the six W3 queries round-robin at `clients` until stop
// closes or dur passes.
func (r *runner) queryMix(ctx context.Context, clients int, dur time.Duration, stop <-chan struct{}) Summary {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	rngs := make([]*rand.Rand, clients)
	for i := range rngs {
		rngs[i] = rand.New(rand.NewPCG(uint64(i), 7))
	}
	var n atomic.Int64
	return closedLoop(ctx, clients, dur, maxOps, func(ctx context.Context, c int) error {
		q := w3Queries[int(n.Add(1))%len(w3Queries)]
		_, err := r.big.Do(ctx, http.MethodGet, q.path(rngs[c], r), nil)
		if ctx.Err() != nil {
			return nil
		}
		return err
	})
}

// healthDuring runs f and times GET /health every healthEvery
// meanwhile, one at a time: the floor of any request's latency under
// f's load (what the machine gives a request that touches no database),
// beside which W3's p99s are read.
func (r *runner) healthDuring(ctx context.Context, f func()) Summary {
	ctx, cancel := context.WithCancel(ctx)
	var rec Recorder
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(healthEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			start := time.Now()
			if _, err := r.big.Do(ctx, http.MethodGet, "/health", nil); err != nil {
				if ctx.Err() == nil {
					noteError(err)
				}
				continue
			}
			rec.Add(time.Since(start))
		}
	}()
	f()
	cancel()
	<-done
	return rec.Summarize(0)
}

// healthEvery spaces healthDuring's requests: 200 a second at most, a
// few per cent of any W3 query's rate.
const healthEvery = 5 * time.Millisecond

// w3 runs each query alone at 8 clients, timing GET /health beside it.
func (r *runner) w3(ctx context.Context) error {
	if r.big == nil {
		r.rep.Extra["na_w3_p99_ms_max"] = "no seeded organization"
		return fmt.Errorf("no seeded organization")
	}
	if _, err := r.srv.waitProjections(ctx, 10*time.Minute, r.backlogs, r.logf); err != nil {
		return err
	}
	worst, analytics := 0.0, 0.0
	for _, q := range w3Queries {
		rngs := make([]*rand.Rand, 8)
		for i := range rngs {
			rngs[i] = rand.New(rand.NewPCG(uint64(i), 3))
		}
		closedLoop(ctx, 8, min(r.cfg.Duration/4, time.Second), maxOps, func(ctx context.Context, c int) error { // warm-up
			_, err := r.big.Do(ctx, http.MethodGet, q.path(rngs[c], r), nil)
			return err
		})
		var s Summary
		h := r.healthDuring(ctx, func() {
			s = closedLoop(ctx, 8, r.cfg.Duration, maxOps, func(ctx context.Context, c int) error {
				_, err := r.big.Do(ctx, http.MethodGet, q.path(rngs[c], r), nil)
				return err
			})
		})
		r.rep.Extra["w3_"+q.key+"_rate"] = s.Rate
		r.rep.Extra["w3_"+q.key+"_p50_ms"] = s.P50
		r.rep.Extra["w3_"+q.key+"_p99_ms"] = s.P99
		if h.N > 0 {
			r.rep.Extra["w3_"+q.key+"_http_floor_p50_ms"], r.rep.Extra["w3_"+q.key+"_http_floor_p99_ms"] = h.P50, h.P99
		}
		r.logf("  W3 %-32s %7.0f req/s, p50 %6.1f ms, p99 %6.1f ms, %d errors; GET /health meanwhile p50 %.1f ms, p99 %.1f ms",
			q.name, s.Rate, s.P50, s.P99, s.Errors, h.P50, h.P99)
		worst = max(worst, s.P99)
		if q.key == "summary" || q.key == "funnel" {
			analytics = max(analytics, s.P99)
		}
		if q.key == "deals" {
			if lim, ok := r.limits["read_8"]; ok && lim > 0 {
				r.rep.Set("w3_deals_ratio_8", s.Rate/lim)
			}
		}
	}
	r.rep.Set("w3_p99_ms_max", worst)
	r.rep.Set("w3_analytics_p99_ms", analytics)
	return nil
}

// w5 replays the 1,000-event deal: GET /deals/{id}?version=1000, one client.
func (r *runner) w5(ctx context.Context) error {
	if r.big == nil || r.data.Main.BigDeal.String() == "00000000-0000-0000-0000-000000000000" {
		return fmt.Errorf("no seeded 1,000-event deal")
	}
	path := fmt.Sprintf("/api/v1/deals/%s?version=%d", r.data.Main.BigDeal, 1000)
	s := closedLoop(ctx, 1, r.cfg.Duration, maxOps, func(ctx context.Context, _ int) error {
		_, err := r.big.Do(ctx, http.MethodGet, path, nil)
		return err
	})
	r.rep.Set("w5_p99_ms", s.P99)
	r.rep.Extra["w5_p50_ms"] = s.P50
	r.logf("  W5 audit replay of 1,000 events: %.0f req/s, p50 %.1f ms, p99 %.1f ms, %d errors", s.Rate, s.P50, s.P99, s.Errors)
	return nil
}

// w4 rebuilds every projection with the built binary while W1 runs at
// 10 % of its best rate, then verifies the rebuilt copy.
func (r *runner) w4(ctx context.Context) error {
	if !r.caps.Rebuild {
		r.rep.Extra["na_w4_events_per_s"] = "crm projections rebuild --all not built yet"
		r.rep.Extra["na_w4_ratio"] = "crm projections rebuild --all not built yet"
		r.logf("  W4: n/a (crm projections rebuild --all not built yet)")
		return nil
	}
	if err := r.ensureActors(ctx, 32); err != nil {
		return err
	}
	var n int64
	if err := r.pool.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil {
		return err
	}
	rate := max(r.w1Best/10, 10)
	bg, cancel := context.WithCancel(ctx)
	done := make(chan Summary, 1)
	go func() {
		s, _ := openLoop(bg, rate, 8, 30*time.Minute, func(ctx context.Context, w int) error { return r.actors[w].step(ctx) })
		done <- s
	}()
	t := time.Now()
	out, err := r.crmTool(ctx, 60*time.Minute, "projections", "rebuild", "--all")
	wall := time.Since(t)
	cancel()
	bgSum := <-done
	r.srv.SampleRSS()
	if err != nil {
		return fmt.Errorf("rebuild: %w: %s", err, truncate(out, 400))
	}
	eps := float64(n) / wall.Seconds()
	r.rep.Set("w4_events_per_s", eps)
	r.rep.Extra["w4_wall_s"] = wall.Seconds()
	if seq, ok := r.limits["seq_read"]; ok && seq > 0 {
		r.rep.Set("w4_ratio", eps/seq)
	}
	r.logf("  W4 rebuild of %d events in %s: %.0f events/s (W1 at %.0f/s meanwhile); it said: %s", n, wall.Round(time.Millisecond), eps, bgSum.Rate,
		lastLine(out))
	if !r.caps.Verify {
		r.rep.Extra["w4_verify"] = "n/a (crm projections verify --all not built yet)"
		return nil
	}
	if _, err := r.srv.waitProjections(ctx, 10*time.Minute, r.backlogs, r.logf); err != nil {
		return err
	}
	out, err = r.crmTool(ctx, 30*time.Minute, "projections", "verify", "--all")
	r.rep.Extra["w4_verify"] = map[bool]string{true: "equal (exit 0)", false: "DIFFERENT: " + truncate(out, 300)}[err == nil]
	r.logf("  W4 verify: %v", r.rep.Extra["w4_verify"])
	return nil
}

// lastLine is the last non-empty line of a tool's output (progress bars
// redraw with carriage returns).
func lastLine(out string) string {
	lines := strings.FieldsFunc(out, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}

// crmTool runs the built binary on the bench database.
func (r *runner) crmTool(ctx context.Context, limit time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.srv.Bin, args...)
	cmd.Env = r.srv.env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// w7 reports the peak RSS seen so far (W1–W4) and times start to ready on
// the existing database (median of three restarts).
func (r *runner) w7(ctx context.Context) error {
	r.srv.SampleRSS()
	if r.srv.PeakRSSMB > 0 {
		r.rep.Set("w7_rss_mb", r.srv.PeakRSSMB)
	}
	var ds []time.Duration
	for range 3 {
		if err := r.srv.Stop(); err != nil {
			return err
		}
		d, err := r.srv.Start(ctx)
		if err != nil {
			return err
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	r.rep.Set("w7_ready_s", ds[1].Seconds())
	r.logf("  W7 peak RSS %.0f MB; start to ready %s (median of %v)", r.srv.PeakRSSMB, ds[1].Round(time.Millisecond), ds)
	return nil
}

// w6 measures the idle cost: commits/s of the crm database and WAL
// bytes/s over cfg.Idle with no traffic.
func (r *runner) w6(ctx context.Context) error {
	if err := r.ensureServer(ctx); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, r.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	time.Sleep(min(r.cfg.Idle/6, 5*time.Second)) // let the last work settle
	a, err := readPGStats(ctx, conn)
	if err != nil {
		return err
	}
	time.Sleep(r.cfg.Idle)
	b, err := readPGStats(ctx, conn)
	if err != nil {
		return err
	}
	secs := b.at.Sub(a.at).Seconds()
	commits := float64(b.commits-a.commits-1) / secs // minus the first reading's own transaction
	wal := float64(b.walLSN-a.walLSN) / secs
	r.rep.Set("w6_commits_per_s", max(commits, 0))
	r.rep.Extra["w6_wal_bytes_per_s"] = wal
	r.logf("  W6 idle %s: %.1f commits/s, %.0f WAL bytes/s", r.cfg.Idle, commits, wal)
	return nil
}

// backlogs reads every projector's backlog from the database.
func (r *runner) backlogs(ctx context.Context) (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := projections.ReadStatus(ctx, r.pool, app.ProjectorNames())
	if err != nil {
		return nil, err
	}
	// The status counts a backlog up to 100k only; the distance to the
	// log's last position tells the rest (positions of a bulk load are
	// contiguous, so it is close), so progress shows on a 1M backlog too.
	var last int64
	if err := r.pool.QueryRow(ctx, `SELECT coalesce((SELECT position FROM events
		ORDER BY transaction_id DESC, position DESC LIMIT 1), 0)`).Scan(&last); err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for _, s := range st {
		m[s.Name] = s.Backlog
		if s.Backlog > 0 {
			m[s.Name] = max(s.Backlog, last-s.Position)
		}
	}
	return m, nil
}
