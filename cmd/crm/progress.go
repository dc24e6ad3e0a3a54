package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progressBar draws one line per phase of a long operation: a bar, the
// count, the rate and the time left, redrawn at most a few times a second.
type progressBar struct {
	w       io.Writer
	mu      sync.Mutex
	phase   string
	started time.Time
	drawn   time.Time
	count   int64 // for phases that report increments (total 0)
}

func newProgressBar(w io.Writer) *progressBar { return &progressBar{w: w} }

func (b *progressBar) update(phase string, done, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if phase != b.phase {
		if b.phase != "" {
			fmt.Fprintln(b.w)
		}
		b.phase, b.started, b.count = phase, time.Now(), 0
		b.drawn = time.Time{} // a new phase is drawn at once
	}
	if total == 0 {
		b.count += done
		done = b.count
	}
	if time.Since(b.drawn) < 200*time.Millisecond && (total == 0 || done < total) {
		return
	}
	b.drawn = time.Now()
	elapsed := time.Since(b.started).Seconds()
	rate := float64(done) / max(elapsed, 1e-9)
	rateText := fmt.Sprintf("%.0f/s", rate)
	if elapsed < 0.1 { // too early for a meaningful rate
		rateText, rate = "-/s", 0
	}
	if total == 0 {
		fmt.Fprintf(b.w, "\r%-9s %d (%s)   ", phase, done, rateText)
		return
	}
	frac := float64(done) / float64(total)
	bar := strings.Repeat("#", int(frac*30)) + strings.Repeat(".", 30-int(frac*30))
	eta := "-"
	if rate > 0 && done < total {
		eta = (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(b.w, "\r%-9s [%s] %d/%d  %s  ETA %s   ", phase, bar, done, total, rateText, eta)
}

func (b *progressBar) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.phase != "" {
		fmt.Fprintln(b.w)
	}
}
