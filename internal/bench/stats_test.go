package bench

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// An open loop cut short by its caller (W4 stops its background load
// when the rebuild ends) does not count the requests it cut as wrong
// answers; a request that failed on its own still counts.
func TestAnOpenLoopCutShortCountsNoErrorForWhatItCut(t *testing.T) {
	takeErrors()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	s, _ := openLoop(ctx, 100, 2, time.Minute, func(ctx context.Context, w int) error {
		if w == 1 {
			return errors.New("a wrong answer")
		}
		<-ctx.Done()
		return ctx.Err()
	})
	if s.Errors < 1 {
		t.Fatalf("%d errors: the wrong answers were lost", s.Errors)
	}
	for _, e := range takeErrors() {
		if e != "a wrong answer" {
			t.Fatalf("counted as an unexpected answer: %q", e)
		}
	}
}

// A floor probe times what it sends from the acknowledgement, samples
// at most probeSlots requests at once, and records no time for a
// request that failed (it is counted as an error instead).
func TestAFloorProbeTimesFromTheAcknowledgementAndSamplesAtMostItsSlots(t *testing.T) {
	takeErrors()
	f := newFloorProbe()
	var wg sync.WaitGroup
	release := make(chan struct{})
	acked := time.Now().Add(-50 * time.Millisecond)
	var sent atomic.Int64
	for range probeSlots + 3 {
		f.watch(&wg, acked, func() error { sent.Add(1); <-release; return nil })
	}
	close(release)
	wg.Wait()
	if n := sent.Load(); n != probeSlots {
		t.Fatalf("%d requests sent while %d slots were busy", n, probeSlots)
	}
	s := f.rec.Summarize(0)
	if s.N != probeSlots || s.P50 < 50 {
		t.Fatalf("recorded %d samples, p50 %.1f ms: want %d, timed from the acknowledgement 50 ms ago", s.N, s.P50, probeSlots)
	}
	f.watch(&wg, time.Now(), func() error { return errors.New("a failed read") })
	wg.Wait()
	if n := f.rec.Summarize(0).N; n != probeSlots {
		t.Fatalf("a failed request was recorded as a sample (%d samples)", n)
	}
	if e := takeErrors(); len(e) != 1 || e[0] != "a failed read" {
		t.Fatalf("errors noted: %q", e)
	}
}
