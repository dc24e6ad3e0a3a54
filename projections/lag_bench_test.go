package projections_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"example.com/crm/projections"
	"example.com/crm/projections/streamstats"
)

// BenchmarkProjectionLag appends 1,000 small events at a steady rate (one
// every 2 ms) and measures, for each, the time from the append being
// acknowledged to the projector's checkpoint covering it (the moment a
// read-your-writes query would see it). The first 20 appends after start
// warm the connections and plans and are not counted (they take 10-90 ms
// each: the steady state is what the figure is about). Run with:
//
//	go test -run '^$' -bench ProjectionLag -benchtime 1x ./projections/
func BenchmarkProjectionLag(b *testing.B) {
	for b.Loop() {
		lags := measureLag(b, 2000, 1*time.Millisecond)
		slices.Sort(lags)
		b.ReportMetric(ms(lags[len(lags)/2]), "p50-ms")
		b.ReportMetric(ms(lags[len(lags)*99/100]), "p99-ms")
		b.ReportMetric(ms(lags[len(lags)-1]), "max-ms")
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func measureLag(b *testing.B, n int, every time.Duration) []time.Duration {
	e := newEnv(b)
	e.start(b, streamstats.Projector(e.reg))
	w := projections.NewWaiter(e.pool, e.progress, 10*time.Second)
	ctx := context.Background()

	for i := range 20 { // warm-up, not measured
		res := e.append(b, -1-i, 1)
		if err := w.WaitFor(ctx, projections.Horizon{TransactionID: res.TransactionID, Position: res.LastPosition}, streamstats.Name); err != nil {
			b.Fatal(err)
		}
	}
	lags := make([]time.Duration, n)
	var wg sync.WaitGroup
	tick := time.NewTicker(every)
	defer tick.Stop()
	for i := range n {
		<-tick.C
		wg.Add(1)
		go func() { // appends overlap, as concurrent commands do
			res := e.append(b, i, 1)
			acked := time.Now()
			defer wg.Done()
			h := projections.Horizon{TransactionID: res.TransactionID, Position: res.LastPosition}
			if err := w.WaitFor(ctx, h, streamstats.Name); err != nil {
				b.Error(err)
			}
			lags[i] = time.Since(acked)
		}()
	}
	wg.Wait()
	return lags
}
