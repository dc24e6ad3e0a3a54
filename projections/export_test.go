package projections

// PollSQL is the poll's statement, for the test that checks its plan.
const PollSQL = pollSQL

// LeaseClass is the first key of every projector lease's advisory lock.
const LeaseClass = leaseClass
