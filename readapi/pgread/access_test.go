package pgread_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"example.com/crm/readapi/pgread"
)

// The role check every read on an assumed role carries reads the
// caller's membership once, however often the statement names the role.
func TestTheAccessCheckReadsTheMembershipOnce(t *testing.T) {
	t.Parallel()
	pool := newPlainPool(t, 2)
	var plan []byte
	if err := pool.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+pgread.AccessSQL,
		uuid.New(), uuid.New(), "member").Scan(&plan); err != nil {
		t.Fatal(err)
	}
	var nodes []map[string]any
	if err := json.Unmarshal(plan, &nodes); err != nil {
		t.Fatal(err)
	}
	scans := 0
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		if n["Relation Name"] == "memberships" {
			scans++
		}
		children, _ := n["Plans"].([]any)
		for _, c := range children {
			walk(c.(map[string]any))
		}
	}
	walk(nodes[0]["Plan"].(map[string]any))
	if scans != 1 {
		t.Fatalf("the access check's plan reads memberships %d times, want 1:\n%s", scans, plan)
	}
}
