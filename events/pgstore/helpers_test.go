package pgstore_test

import (
	"testing"

	"github.com/google/uuid"

	"example.com/crm/events"
	"example.com/crm/events/pgstore"
	"example.com/crm/internal/testevents"
)

// startGroupCommit starts group commit on s (lanes of up to 32 appends)
// until the benchmark ends.
func startGroupCommit(b *testing.B, s *pgstore.Store, lanes int) {
	b.Cleanup(s.StartGroupCommit(lanes, 32))
}

func testeventsStream(tenant uuid.UUID) events.Stream { return testevents.Stream(tenant) }

func notes(first, n int) []events.Pending { return testevents.Notes(first, n) }
