package projections

import "sync"

// Progress broadcasts "some projector committed" to anyone waiting for
// projections to catch up. Waiting is a channel that is closed and
// replaced on every advance.
type Progress struct {
	mu sync.Mutex
	ch chan struct{}
}

// NewProgress returns a Progress with nobody waiting.
func NewProgress() *Progress { return &Progress{ch: make(chan struct{})} }

// Changed returns a channel closed at the next advance.
func (p *Progress) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ch
}

// Advance wakes every waiter.
func (p *Progress) Advance() {
	p.mu.Lock()
	close(p.ch)
	p.ch = make(chan struct{})
	p.mu.Unlock()
}
