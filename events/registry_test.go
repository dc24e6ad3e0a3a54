package events_test

import (
	"encoding/json"
	"testing"

	"example.com/crm/events"
)

// renamed is at schema v2: v1 stored the field as "name".
type renamed struct {
	Title string `json:"title"`
}

func (renamed) EventType() string { return "test.renamed" }

func TestRegistryUpcastsOldPayloads(t *testing.T) {
	t.Parallel()
	reg := events.NewRegistry()
	reg.Register(renamed{}, 2, events.Upcaster{From: 1, Up: func(old json.RawMessage) (json.RawMessage, error) {
		var v1 struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(old, &v1); err != nil {
			return nil, err
		}
		return json.Marshal(renamed{Title: v1.Name})
	}})

	got, err := reg.Decode("test.renamed", 1, []byte(`{"name":"old"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got != (renamed{Title: "old"}) {
		t.Fatalf("v1 payload decoded as %#v", got)
	}
	got, err = reg.Decode("test.renamed", 2, []byte(`{"title":"new"}`))
	if err != nil || got != (renamed{Title: "new"}) {
		t.Fatalf("v2 payload decoded as %#v, %v", got, err)
	}
	if _, err := reg.Decode("test.renamed", 3, []byte(`{}`)); err == nil {
		t.Fatal("a payload newer than the binary must be refused")
	}
	if _, err := reg.Decode("test.unknown", 1, []byte(`{}`)); err == nil {
		t.Fatal("an unregistered type must be refused")
	}
	name, v, _, err := reg.Encode(renamed{Title: "x"})
	if err != nil || name != "test.renamed" || v != 2 {
		t.Fatalf("encode: %s v%d %v", name, v, err)
	}
}

func TestRegistryRefusesMissingUpcaster(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("registering v2 without an upcaster from v1 must panic")
		}
	}()
	events.NewRegistry().Register(renamed{}, 2)
}

// Found by FuzzRegistryDecode: a stored schema version below 1 ran the
// (missing) upcaster from v0 and crashed with a nil function call.
func TestRegistryRefusesVersionsBelowOne(t *testing.T) {
	t.Parallel()
	reg := events.Domain()
	for _, v := range []int{0, -1, -1 << 31} {
		if p, err := reg.Decode("contact.created", v, []byte(`{}`)); err == nil {
			t.Errorf("Decode(contact.created, v%d) = %#v, want an error", v, p)
		}
	}
}
