package events

import (
	"encoding/json"
	"testing"
)

var (
	benchCreated = []byte(`{"deal_id":"01a23339-3255-7cb4-9d1d-55ad291748f0","contact_id":"01a23339-3255-7cb4-9d1d-55ad291748f1","owner_id":"01a23339-3255-7cb4-9d1d-55ad291748f2","title":"Deal 123 for Lovelace","amount":"1234.50","currency":"USD","status":"new","stage":"lead"}`)
	benchUpdated = []byte(`{"changes":{"stage":{"old":"lead","new":"proposal"},"status":{"old":"new","new":"in_progress"}}}`)
)

// go test -run '^$' -bench Decode -benchmem ./events/: a deal's creation
// and update decoded by encoding/json and by unmarshal.
func BenchmarkDecodeDealPayloads(b *testing.B) {
	for name, f := range map[string]func([]byte, any) error{"encoding-json": json.Unmarshal, "unmarshal": unmarshal, "unmarshalValid (DecodeStored)": unmarshalValid} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				var c DealCreated
				var u DealUpdated
				if f(benchCreated, &c) != nil || f(benchUpdated, &u) != nil {
					b.Fatal("decode failed")
				}
			}
		})
	}
}
