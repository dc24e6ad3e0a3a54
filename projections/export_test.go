package projections

// PollSQL is the poll's statement, for the test that checks its plan.
const PollSQL = pollSQL
