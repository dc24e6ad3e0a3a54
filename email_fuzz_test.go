package crm_test

import (
	"strings"
	"testing"

	"example.com/crm"
)

// FuzzNormalizeEmail checks the rule of NormalizeEmail byte for byte: the
// result is the trimmed input with only A–Z lower-cased (so no Unicode
// case mapping can make two addresses collide), and normalising twice
// changes nothing.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{
		"Info@Example.COM", "İnfo@example.com", "\u212aelvin@example.com", "kelvin@example.com",
		"  a@b.c \t", "\x00@x", "a\x00b@c", "\xff\xfe@x", "\xed\xa0\x80@x", "ÄÖÜ@ß.de", "", " ", "\u00a0a@b\u00a0",
		"ǅ@x", "ΣΑΣ@x", strings.Repeat("A", 300) + "@B.C",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := crm.NormalizeEmail(s)
		trimmed := strings.TrimSpace(s)
		if len(got) != len(trimmed) {
			t.Fatalf("NormalizeEmail(%q) = %q: length changed from %d to %d", s, got, len(trimmed), len(got))
		}
		for i := 0; i < len(got); i++ {
			want := trimmed[i]
			if 'A' <= want && want <= 'Z' {
				want += 'a' - 'A'
			}
			if got[i] != want {
				t.Fatalf("NormalizeEmail(%q) = %q: byte %d is %#x, want %#x", s, got, i, got[i], want)
			}
		}
		if again := crm.NormalizeEmail(got); again != got {
			t.Fatalf("NormalizeEmail is not idempotent: %q → %q → %q", s, got, again)
		}
	})
}
