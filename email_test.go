package crm_test

import (
	"testing"

	"example.com/crm"
)

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"Ann@Example.COM", "ann@example.com"},
		{"  ann@example.com \t", "ann@example.com"},
		{"ann@example.com", "ann@example.com"},
		// Only ASCII folds (issue 9): no collision through Unicode case
		// mapping.
		{"İnfo@example.com", "İnfo@example.com"},           // not "i̇nfo@" nor "info@"
		{"\u212aate@example.com", "\u212aate@example.com"}, // the Kelvin sign is not "k"
		{"ÄNN@Example.com", "Änn@example.com"},
		{"ſam@example.com", "ſam@example.com"},
	}
	for _, tt := range tests {
		if got := crm.NormalizeEmail(tt.in); got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if crm.NormalizeEmail("\u212aate@example.com") == crm.NormalizeEmail("kate@example.com") {
		t.Error("the Kelvin sign collides with k")
	}
	if crm.NormalizeEmail("İnfo@example.com") == crm.NormalizeEmail("info@example.com") {
		t.Error("İ collides with i")
	}
}
