package pgread

// WithSearchMax returns a copy of s that sorts a search's matches itself
// only up to n matches (0: always walks the sort index), so tests can take
// both paths of list.
func (s *Store) WithSearchMax(n int64) *Store {
	c := *s
	c.searchMax = n
	return &c
}

// WithCaps returns a copy of s with other bounds of list: the count cap
// and the offset from which pages are found in the sort index first.
func (s *Store) WithCaps(countMax, deepOffset int64) *Store {
	c := *s
	c.countMax, c.deepOffset = countMax, deepOffset
	return &c
}
