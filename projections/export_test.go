package projections

// PollSQL is the poll's statement, for the test that checks its plan.
const PollSQL = pollSQL

// LeaseClass is the first key of every projector lease's advisory lock.
const LeaseClass = leaseClass

// OwnLimit is how many tenants' own appends a Waiter remembers.
const OwnLimit = ownLimit

// OwnTenants is how many tenants' own appends w remembers.
func (w *Waiter) OwnTenants() int {
	w.ownMu.Lock()
	defer w.ownMu.Unlock()
	return len(w.own)
}

// WarmSQL is the warm-up's read of the log, and WarmEvents how far back
// it reads.
var WarmSQL, WarmEvents = warmSQL, warmEvents
