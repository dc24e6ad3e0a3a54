package projections

import (
	"container/heap"
	"sync"
)

// jobQueue hands out a rebuild's jobs largest first. The jobs after the
// fold differ in size by orders of magnitude (a trigram index over every
// contact, a B-tree over every timeline entry, a counter table's key),
// and on a few workers the phase lasts as long as the work queued last
// behind the small jobs: measured first come, first served, the
// timeline's deal index waited 5 s behind the deals' six indexes and was
// the phase's last job. Jobs of equal size go in the order they came.
type jobQueue[T any] struct {
	mu     sync.Mutex
	ready  sync.Cond
	jobs   jobHeap[T]
	seq    int64
	closed bool
}

func newJobQueue[T any]() *jobQueue[T] {
	q := &jobQueue[T]{}
	q.ready.L = &q.mu
	return q
}

// push queues v, of size size.
func (q *jobQueue[T]) push(size int64, v T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	heap.Push(&q.jobs, queuedJob[T]{size: size, seq: q.seq, v: v})
	q.ready.Signal()
}

// close ends the queue: pop hands out what is left, then reports false.
func (q *jobQueue[T]) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.ready.Broadcast()
}

// pop waits for a job and returns the largest; false once the queue is
// closed and empty.
func (q *jobQueue[T]) pop() (T, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.jobs) == 0 && !q.closed {
		q.ready.Wait()
	}
	if len(q.jobs) == 0 {
		var zero T
		return zero, false
	}
	return heap.Pop(&q.jobs).(queuedJob[T]).v, true
}

type queuedJob[T any] struct {
	size, seq int64
	v         T
}

// jobHeap is a container/heap of jobs, the largest (then the oldest) on
// top.
type jobHeap[T any] []queuedJob[T]

func (h jobHeap[T]) Len() int { return len(h) }
func (h jobHeap[T]) Less(i, j int) bool {
	if h[i].size != h[j].size {
		return h[i].size > h[j].size
	}
	return h[i].seq < h[j].seq
}
func (h jobHeap[T]) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *jobHeap[T]) Push(x any)   { *h = append(*h, x.(queuedJob[T])) }
func (h *jobHeap[T]) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
