package analytics

import (
	"testing"

	"example.com/crm"
)

func TestAmountsReadFromChanges(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   any
		want crm.Amount
		ok   bool
	}{
		{"10.00", 1000, true},
		{"2500.5", 250050, true},
		{"0", 0, true},
		{crm.Amount(42), 42, true},
		{float64(1000), 0, false}, // a JSON number: units or cents? refused
		{"-1.00", 0, false},
		{"1.005", 0, false},
		{nil, 0, false},
	} {
		got, err := amountOf(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("amountOf(%#v) = %d, %v", c.in, got, err)
		}
	}
}
