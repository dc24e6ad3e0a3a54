package crm

import "strings"

// NormalizeEmail is the one form in which e-mail addresses are compared:
// trimmed, with the ASCII letters A–Z lower-cased and every other
// character left exactly as it is. API.md §2 asks for case-insensitive
// comparison; this is the rule that gives it without collisions:
// Unicode case mapping (strings.ToLower) would make "İnfo@…" and
// "info@…" one address, and the Kelvin sign (U+212A) a "k", so that a
// look-alike address could log into another account. Non-ASCII addresses
// (internationalized local parts, IDN domains in Unicode form) are still
// accepted, but compared exactly in their non-ASCII characters.
//
// The users table's unique key, logins and "add a member by e-mail" all
// use it, so that they can never disagree about whether two addresses are
// the same.
func NormalizeEmail(email string) string {
	email = strings.TrimSpace(email)
	for i := 0; i < len(email); i++ {
		if c := email[i]; 'A' <= c && c <= 'Z' {
			b := []byte(email)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return email
}
