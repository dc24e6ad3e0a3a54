package projections

import (
	"slices"
	"testing"
	"time"
)

// The queue hands out the largest job first, jobs of one size in the
// order they came, and ends once closed and empty.
func TestJobQueueHandsOutTheLargestFirst(t *testing.T) {
	t.Parallel()
	q := newJobQueue[string]()
	q.push(10, "small index")
	q.push(900, "trigram index")
	q.push(10, "another small index")
	q.push(300, "timeline index")
	q.close()
	var got []string
	for {
		v, ok := q.pop()
		if !ok {
			break
		}
		got = append(got, v)
	}
	want := []string{"trigram index", "timeline index", "small index", "another small index"}
	if !slices.Equal(got, want) {
		t.Fatalf("popped %q, want %q", got, want)
	}
}

// A worker waiting on an empty queue gets the next job pushed, and
// returns once the queue is closed.
func TestJobQueuePopWaitsForAJobOrTheEnd(t *testing.T) {
	t.Parallel()
	q := newJobQueue[int]()
	got := make(chan int)
	go func() {
		for {
			v, ok := q.pop()
			if !ok {
				close(got)
				return
			}
			got <- v
		}
	}()
	select {
	case v := <-got:
		t.Fatalf("popped %d from an empty queue", v)
	case <-time.After(20 * time.Millisecond):
	}
	q.push(1, 7)
	if v := <-got; v != 7 {
		t.Fatalf("popped %d, want 7", v)
	}
	q.close()
	if _, open := <-got; open {
		t.Fatal("pop went on after the queue was closed and empty")
	}
}
