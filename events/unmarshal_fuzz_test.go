package events

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// The fast decoder must decode every payload exactly as encoding/json
// does: same value, and an error exactly when encoding/json errs.
func FuzzUnmarshalMatchesEncodingJSON(f *testing.F) {
	reg := Domain()
	for _, n := range reg.Names() {
		f.Add(n, []byte(`{}`))
	}
	f.Add("deal.created", []byte(`{"deal_id":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","title":"t","amount":"10000.50","currency":"USD"}`))
	f.Add("deal.updated", []byte(`{"changes":{"stage":{"old":"lead","new":"won"},"amount":{"old":"1.00","new":"2"}}}`))
	f.Add("contact.created", []byte(`{"name":"a","name":"b","NAME":"c","Email":"x@y"}`))
	f.Add("contact.created", []byte(`{"name":"\ud800\u0000"}`))
	f.Add("deal.created", []byte(`{"amount":1e999999999}`))
	f.Add("deal.created", []byte(`{"title":1}`))
	f.Add("deal.created", []byte(`{"deal_id":"not-a-uuid"}`))
	f.Add("deal.created", []byte(`{"title":"a"} trailing`))
	f.Add("deal.created", []byte(` {"title" : "a" } `))
	f.Add("metadata", []byte(`{"tenant_id":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","user_id":"6ba7b810-9dad-11d1-80b4-00c04fd430c9","correlation_id":"x","causation_id":null}`))
	f.Fuzz(func(t *testing.T, name string, body []byte) {
		typ := reflect.TypeFor[Metadata]() // an event's metadata, for any other name
		if e, ok := reg.byName[name]; ok {
			typ = e.typ
		}
		std, fast := reflect.New(typ), reflect.New(typ)
		errStd := json.Unmarshal(body, std.Interface())
		errFast := unmarshal(body, fast.Interface())
		if (errStd == nil) != (errFast == nil) {
			t.Fatalf("%s %q: encoding/json says %v, the fast decoder %v", name, body, errStd, errFast)
		}
		if errStd == nil && !reflect.DeepEqual(std.Interface(), fast.Interface()) {
			t.Fatalf("%s %q: encoding/json gives %#v, the fast decoder %#v", name, body, std.Interface(), fast.Interface())
		}
		// What DecodeStored uses on jsonb's output (valid JSON in UTF-8).
		if !utf8.Valid(body) || !json.Valid(body) {
			return
		}
		valid := reflect.New(typ)
		errValid := unmarshalValid(body, valid.Interface())
		if (errStd == nil) != (errValid == nil) || (errStd == nil && !reflect.DeepEqual(std.Interface(), valid.Interface())) {
			t.Fatalf("%s %q: encoding/json gives %#v (%v), unmarshalValid %#v (%v)", name, body, std.Interface(), errStd, valid.Interface(), errValid)
		}
	})
}
