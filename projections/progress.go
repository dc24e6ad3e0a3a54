package projections

import "sync"

// Progress broadcasts the checkpoints the projectors of this process
// commit, so that read-your-writes waiters in the same process see them
// in memory, without asking the database. Waiting is a channel that is
// closed and replaced on every advance.
type Progress struct {
	mu      sync.Mutex
	ch      chan struct{}
	at      map[string]Checkpoint
	stopped map[string]bool // at a parked event
	// local: the projectors this process's engine runs and keeps moving
	// (it holds their leases and none is stopped): their checkpoints
	// reach Advance as they commit, so waiters need not read them.
	local map[string]bool
}

// NewProgress returns a Progress with nobody waiting.
func NewProgress() *Progress { return &Progress{ch: make(chan struct{}), at: map[string]Checkpoint{}} }

// Changed returns a channel closed at the next advance.
func (p *Progress) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ch
}

// Advance records that projector committed everything up to c, and
// wakes every waiter.
func (p *Progress) Advance(projector string, c Checkpoint) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if at, ok := p.at[projector]; ok && !at.Before(c) {
		return // nothing new: nobody to wake
	}
	p.at[projector] = c
	close(p.ch)
	p.ch = make(chan struct{})
}

// SetStopped records which projectors are stopped at a parked event.
func (p *Progress) SetStopped(names map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	changed := false
	for n, s := range names {
		changed = changed || s != p.stopped[n]
	}
	for n, s := range p.stopped {
		changed = changed || s != names[n]
	}
	p.stopped = names
	if changed { // wake the waiters: one may now give up
		close(p.ch)
		p.ch = make(chan struct{})
	}
}

// SetLocal records which projectors this process's engine runs and keeps
// moving (see Progress.local).
func (p *Progress) SetLocal(names map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.local = names
}

// Local reports whether every named projector is run here and moving.
func (p *Progress) Local(projectors ...string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range projectors {
		if !p.local[n] {
			return false
		}
	}
	return true
}

// Stopped returns the first of projectors stopped at a parked event (a
// local one is not: this process moves it).
func (p *Progress) Stopped(projectors ...string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range projectors {
		if p.stopped[n] && !p.local[n] {
			return n, true
		}
	}
	return "", false
}

// Reached reports whether every named projector committed h here.
func (p *Progress) Reached(h Horizon, projectors ...string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	target := Checkpoint(h)
	for _, n := range projectors {
		at, ok := p.at[n]
		if !ok || at.Before(target) {
			return false
		}
	}
	return true
}

// ReachedAll reports whether every projector this process knows of
// committed h here.
func (p *Progress) ReachedAll(h Horizon) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	target := Checkpoint(h)
	for _, at := range p.at {
		if at.Before(target) {
			return false
		}
	}
	return len(p.at) > 0
}
