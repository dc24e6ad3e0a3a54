package crm

import "strings"

// NormalizeEmail is the one form in which e-mail addresses are compared:
// trimmed and lower-cased (API.md §2: case-insensitive). The users table's
// unique key, logins and "add a member by e-mail" all use it, so that they
// can never disagree about whether two addresses are the same.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}
