package feed

// ReadSQL is the feed's read, for the test that explains it.
const ReadSQL = readSQL
