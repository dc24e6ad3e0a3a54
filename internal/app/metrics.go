package app

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"example.com/crm/commands"
	"example.com/crm/events"
	"example.com/crm/projections"
)

// storeMetrics counts what the event store appends, and how long an
// append takes.
type storeMetrics struct {
	events   *prometheus.CounterVec
	duration prometheus.Histogram
}

func newStoreMetrics(reg prometheus.Registerer) (*storeMetrics, error) {
	m := &storeMetrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crm_events_appended_total",
			Help: "Events committed to the event store, by event type.",
		}, []string{"type"}),
		// Beside crm_projection_read_delay_seconds (which starts at the
		// same recorded_at) it tells how much of an event's wait to be
		// projected was its own append.
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "crm_event_append_seconds",
			Help: "Per append: from the start of its transaction (the events' recorded_at, by the database's clock) " +
				"to the server learning that it committed. With the database on another host, the clocks' difference is in it.",
			Buckets: []float64{.0005, .001, .002, .003, .005, .0075, .01, .015, .02, .03, .05, .1, .25, .5, 1},
		}),
	}
	return m, errors.Join(reg.Register(m.events), reg.Register(m.duration))
}

// stored is the event store's Stored hook: evs committed together.
func (m *storeMetrics) stored(evs []events.Event) {
	if len(evs) > 0 {
		m.duration.Observe(max(time.Since(evs[0].RecordedAt), 0).Seconds())
	}
	for _, e := range evs {
		m.events.WithLabelValues(e.Type).Inc()
	}
}

// newCommandMetrics registers what API.md's /metrics calls "commands":
// every command the write side ran, by name and outcome ("ok" or the
// error's stable code), and how long it took (retries after conflicts
// included), and returns the commands' Observer.
func newCommandMetrics(reg prometheus.Registerer) (commands.Observer, error) {
	total := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crm_commands_total",
		Help: "Commands the write side ran, by command and outcome (ok, or the error's stable code).",
	}, []string{"command", "outcome"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "crm_command_duration_seconds",
		Help:    "Per command: from its start to its answer, the append and any retries after version conflicts included.",
		Buckets: []float64{.0005, .001, .002, .003, .005, .0075, .01, .015, .02, .03, .05, .1, .25, .5, 1},
	}, []string{"command"})
	if err := errors.Join(reg.Register(total), reg.Register(duration)); err != nil {
		return nil, err
	}
	return func(command, outcome string, elapsed time.Duration) {
		total.WithLabelValues(command, outcome).Inc()
		duration.WithLabelValues(command).Observe(elapsed.Seconds())
	}, nil
}

// projectionCollector reports every projector's position, backlog and lag
// at scrape time, read from the checkpoints (so it is right whichever
// server process runs the projector).
type projectionCollector struct {
	pool                           *pgxpool.Pool
	names                          []string
	position, backlog, lag, parked *prometheus.Desc
}

func newProjectionCollector(pool *pgxpool.Pool, names []string) *projectionCollector {
	l := []string{"projector"}
	return &projectionCollector{
		pool: pool, names: names,
		position: prometheus.NewDesc("crm_projection_position", "Global position of the last event the projector processed.", l, nil),
		backlog:  prometheus.NewDesc("crm_projection_backlog_events", "Committed events the projector has not processed yet (capped at 100000).", l, nil),
		lag:      prometheus.NewDesc("crm_projection_lag_seconds", "Age of the oldest event the projector has not processed yet.", l, nil),
		parked: prometheus.NewDesc("crm_projection_parked_events",
			"Poison events the projector is stopped at (alert when > 0; see crm projections status).", l, nil),
	}
}

func (c *projectionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.position
	ch <- c.backlog
	ch <- c.lag
	ch <- c.parked
}

func (c *projectionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := projections.ReadStatus(ctx, c.pool, c.names)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.position, err)
		return
	}
	for _, s := range st {
		ch <- prometheus.MustNewConstMetric(c.position, prometheus.GaugeValue, float64(s.Position), s.Name)
		ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(s.Backlog), s.Name)
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, s.LagSeconds, s.Name)
		ch <- prometheus.MustNewConstMetric(c.parked, prometheus.GaugeValue, float64(len(s.Parked)), s.Name)
	}
}

// newBatchMetrics registers the projectors' histograms and returns the
// Runner's OnBatch hook: how long applying a batch takes, and each
// event's projection delay (append start to read-model commit), the
// figure BENCHMARKS.md's W2 measures from outside.
func newBatchMetrics(reg prometheus.Registerer) (func(projections.BatchStats), error) {
	apply := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "crm_projection_batch_apply_seconds",
		Help:    "Time to apply one batch of events to every projector taking part, commit included.",
		Buckets: []float64{.0005, .001, .002, .004, .008, .016, .032, .064, .128, .256, .512, 1, 2},
	})
	delay := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "crm_projection_delay_seconds",
		Help:    "Per event: from the start of its append (recorded_at) to the commit of the read models that show it.",
		Buckets: []float64{.001, .002, .003, .005, .0075, .01, .015, .02, .03, .05, .1, .25, .5, 1, 2.5, 10},
	})
	readDelay := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "crm_projection_read_delay_seconds",
		Help:    "Per event: from the start of its append (recorded_at) to the projectors' read of the log that returned it.",
		Buckets: []float64{.001, .002, .003, .005, .0075, .01, .015, .02, .03, .05, .1, .25, .5, 1, 2.5, 10},
	})
	batches := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crm_projection_batches_total",
		Help: `Batches applied, by rows: "read" when a projector had to read rows of its tables first (not in its row cache), a round trip more than "known".`,
	}, []string{"rows"})
	for _, c := range []prometheus.Collector{apply, delay, readDelay, batches} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	known, read := batches.WithLabelValues("known"), batches.WithLabelValues("read")
	return func(st projections.BatchStats) {
		apply.Observe(st.Apply.Seconds())
		if st.ReadRows {
			read.Inc()
		} else {
			known.Inc()
		}
		for _, d := range st.Delays {
			delay.Observe(d.Seconds())
		}
		for _, d := range st.ReadDelays {
			readDelay.Observe(d.Seconds())
		}
	}, nil
}
