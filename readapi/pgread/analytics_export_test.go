package pgread

import "time"

// WithClock returns a copy of a that takes now as the current time (for
// the window of new_deals_last_30_days).
func (a *Analytics) WithClock(now func() time.Time) *Analytics {
	c := *a
	c.now = now
	return &c
}
