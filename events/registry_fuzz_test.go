package events_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"example.com/crm/events"
)

// upcastV3 is a test event at schema v3: v1 stored {"name": …}, v2
// {"title": …}, v3 adds "tags". Its upcasters are written the way real
// ones are: decode the old shape, build the new one.
type upcastV3 struct {
	Title string   `json:"title"`
	Tags  []string `json:"tags"`
}

func (upcastV3) EventType() string { return "test.upcast" }

func upcastRegistry() *events.Registry {
	reg := events.Domain()
	reg.Register(upcastV3{}, 3,
		events.Upcaster{From: 1, Up: func(old json.RawMessage) (json.RawMessage, error) {
			var v1 struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal(old, &v1); err != nil {
				return nil, err
			}
			return json.Marshal(map[string]string{"title": v1.Name})
		}},
		events.Upcaster{From: 2, Up: func(old json.RawMessage) (json.RawMessage, error) {
			var v2 map[string]any
			if err := json.Unmarshal(old, &v2); err != nil {
				return nil, err
			}
			if v2 == nil {
				v2 = map[string]any{}
			}
			v2["tags"] = []string{}
			return json.Marshal(v2)
		}},
	)
	return reg
}

// FuzzRegistryDecode decodes any stored row (event name, schema version,
// payload bytes) with the domain registry plus an event with two
// upcasters, and checks: nothing panics, whatever the version (zero,
// negative, newer than the binary) or the bytes; a decoded payload has
// the type of its name and re-encodes at the current version; and its
// encoding decodes to a payload that encodes to the same bytes.
func FuzzRegistryDecode(f *testing.F) {
	reg := upcastRegistry()
	names := reg.Names()
	add := func(name string, version int, body string) { f.Add(name, version, []byte(body)) }
	for _, n := range names {
		add(n, 1, `{}`)
	}
	add("contact.created", 1, `{"contact_id":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","name":"Ada","email":null}`)
	add("deal.created", 1, `{"deal_id":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","title":"t","amount":"10000.50","currency":"USD"}`)
	add("deal.created", 1, `{"amount":"1e3"}`)
	add("deal.created", 1, `{"amount":1e999999999}`)
	add("deal.created", 1, `{"amount":99999999999999999999999999999}`)
	add("deal.updated", 1, `{"amount":"-1"}`)
	add("contact.created", 1, `{"name":"\u0000"}`)
	add("contact.created", 1, `{"name":"\ud800"}`)
	add("contact.created", 1, "{\"name\":\"\xff\xfe\"}")
	add("contact.created", 1, `{"name":"a","name":"b","NAME":"c"}`)
	add("contact.created", 1, `null`)
	add("contact.created", 1, ``)
	add("contact.created", 1, `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`)
	add("contact.created", 2, `{}`)
	add("contact.created", 0, `{}`)
	add("contact.created", -1, `{}`)
	add("contact.created", -1<<31, `{}`)
	add("no.such_event", 1, `{}`)
	add("", 1, `{}`)
	add("test.upcast", 1, `{"name":"old"}`)
	add("test.upcast", 2, `{"title":"mid"}`)
	add("test.upcast", 3, `{"title":"new","tags":["a"]}`)
	add("test.upcast", 1, `null`)
	add("test.upcast", 2, `null`)
	add("test.upcast", 2, `{"title":1}`)
	add("test.upcast", 1, `{"name":"\u0000\ud800"}`)
	add("test.upcast", 0, `{"name":"zero"}`)
	add("test.upcast", -5, `{}`)
	add("test.upcast", 4, `{}`)
	f.Fuzz(func(t *testing.T, name string, version int, body []byte) {
		p, err := reg.Decode(name, version, body)
		if err != nil {
			if p != nil {
				t.Fatalf("Decode(%q, %d, %q) returned both %#v and %v", name, version, body, p, err)
			}
			return
		}
		if p.EventType() != name {
			t.Fatalf("Decode(%q, %d, %q) gave a %q", name, version, body, p.EventType())
		}
		gotName, current, enc, err := reg.Encode(p)
		if err != nil || gotName != name {
			t.Fatalf("Decode(%q, %d, %q) = %#v, which does not re-encode: %q, %v", name, version, body, p, gotName, err)
		}
		if version > current || version < 1 {
			t.Fatalf("Decode(%q, %d, …) accepted a version outside 1..%d", name, version, current)
		}
		again, err := reg.Decode(name, current, enc)
		if err != nil {
			t.Fatalf("%q v%d %q decodes, but its encoding %s does not: %v", name, version, body, enc, err)
		}
		if _, _, enc2, err := reg.Encode(again); err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("%q v%d %q encodes as %s, then as %s (%v)", name, version, body, enc, enc2, err)
		}
	})
}
