package passwords

import (
	"strings"
	"testing"
)

func TestHashAndCheck(t *testing.T) {
	t.Parallel()
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("é", 128) // 256 bytes: past bcrypt's 72
	for _, pw := range []string{"correct horse", long} {
		hash, err := h.Hash(pw)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(hash, "$2a$10$") {
			t.Fatalf("hash %q is not bcrypt at cost 10", hash)
		}
		if ok, err := h.Check(hash, pw); !ok || err != nil {
			t.Fatalf("Check(own password) = %v, %v", ok, err)
		}
		if ok, err := h.Check(hash, pw+"x"); ok || err != nil {
			t.Fatalf("Check(wrong password) = %v, %v", ok, err)
		}
	}
	// Two long passwords sharing their first 72 bytes still differ.
	hash, _ := h.Hash(long)
	if ok, _ := h.Check(hash, strings.Repeat("é", 127)+"e"); ok {
		t.Fatal("a password sharing a 72-byte prefix matched")
	}
	if _, err := h.Check("not a hash", "x"); err == nil {
		t.Fatal("a malformed hash was accepted")
	}
	h.CheckNothing("anything")
}

func TestCost(t *testing.T) {
	t.Parallel()
	if Cost < 10 {
		t.Fatalf("Cost = %d; API.md §2 asks for at least 10", Cost)
	}
	for _, bad := range []int{0, 3, 32} {
		if _, err := NewWithCost(bad); err == nil {
			t.Fatalf("cost %d accepted", bad)
		}
	}
	h, err := NewWithCost(4)
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := h.Hash("pw")
	// A hasher checks hashes of any cost.
	if ok, err := (&Hasher{cost: Cost}).Check(hash, "pw"); !ok || err != nil {
		t.Fatalf("cost-4 hash with a cost-10 hasher: %v %v", ok, err)
	}
}
