package pgread

// WithSearchMax returns a copy of s that sorts a search's matches itself
// only up to n matches (0: always walks the sort index), so tests can take
// both paths of list.
func (s *Store) WithSearchMax(n int64) *Store {
	c := *s
	c.searchMax = n
	return &c
}
