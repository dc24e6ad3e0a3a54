package bench

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Recorder collects latencies; percentiles come from the sorted slice
// (exact, and small enough at these rates: no histogram library needed).
type Recorder struct {
	mu     sync.Mutex
	d      []time.Duration
	errors atomic.Int64
	s503   atomic.Int64
}

// Add records one successful operation.
func (r *Recorder) Add(d time.Duration) {
	r.mu.Lock()
	r.d = append(r.d, d)
	r.mu.Unlock()
}

// Summary is what a phase reports.
type Summary struct {
	N        int
	Errors   int64
	S503     int64
	Seconds  float64
	Rate     float64 // operations per second
	P50, P99 float64 // milliseconds
	Max      float64 // milliseconds
}

// Summarize computes rate and percentiles over elapsed.
func (r *Recorder) Summarize(elapsed time.Duration) Summary {
	r.mu.Lock()
	d := slices.Clone(r.d)
	r.mu.Unlock()
	slices.Sort(d)
	s := Summary{N: len(d), Errors: r.errors.Load(), S503: r.s503.Load(), Seconds: elapsed.Seconds()}
	if elapsed > 0 {
		s.Rate = float64(len(d)) / elapsed.Seconds()
	}
	s.P50, s.P99 = ms(Percentile(d, 0.50)), ms(Percentile(d, 0.99))
	if len(d) > 0 {
		s.Max = ms(d[len(d)-1])
	}
	return s
}

// Percentile returns the p-quantile (0..1) of sorted by the nearest-rank
// method; 0 for an empty slice.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// closedLoop runs op on `clients` goroutines, each as fast as its answers
// come, until dur has passed or maxOps operations were started. Client i
// always gets index i (so it can own per-client state). It is bounded in
// count and time.
func closedLoop(ctx context.Context, clients int, dur time.Duration, maxOps int64, op func(ctx context.Context, client int) error) Summary {
	var rec Recorder
	var started atomic.Int64
	ctx, cancel := context.WithTimeout(ctx, dur+30*time.Second) // in-flight requests get a grace period
	defer cancel()
	deadline := time.Now().Add(dur)
	begin := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && started.Add(1) <= maxOps && ctx.Err() == nil {
				t := time.Now()
				err := op(ctx, c)
				rec.outcome(err, time.Since(t))
			}
		}()
	}
	wg.Wait()
	return rec.Summarize(time.Since(begin))
}

// outcome records one operation: its latency when it succeeded,
// otherwise an error (and a 503 separately).
func (r *Recorder) outcome(err error, d time.Duration) {
	switch {
	case err == nil:
		r.Add(d)
	case isStatus(err, 503):
		r.s503.Add(1)
		r.errors.Add(1)
	default:
		r.errors.Add(1)
		noteError(err)
	}
}

// openLoop starts op at a steady rate (per second) for dur on a pool of
// workers; a tick that finds every worker busy is counted as missed
// rather than queued, so the offered load stays what it says.
func openLoop(ctx context.Context, rate float64, workers int, dur time.Duration, op func(ctx context.Context, worker int) error) (s Summary, missed int64) {
	var rec Recorder
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(ctx, dur+30*time.Second)
	defer cancel()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				t := time.Now()
				err := op(ctx, w)
				if err != nil && ctx.Err() != nil {
					continue // cut short by the loop's end (W4 cancels it), not an answer
				}
				rec.outcome(err, time.Since(t))
			}
		}()
	}
	interval := time.Duration(float64(time.Second) / max(rate, 0.1))
	begin := time.Now()
	next := begin
	for time.Since(begin) < dur && ctx.Err() == nil {
		select {
		case jobs <- struct{}{}:
		default:
			missed++
		}
		next = next.Add(interval)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
	close(jobs)
	wg.Wait()
	return rec.Summarize(time.Since(begin)), missed
}
