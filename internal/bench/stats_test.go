package bench

import (
	"context"
	"errors"
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
