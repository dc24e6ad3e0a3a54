package commands_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/commands"
	"example.com/crm/events"
)

// BenchmarkLongStreams measures one command on an aggregate with a long
// history — a contact with 10,000 deals linked (updated), a deal with
// 1,000 events (commented on) — with and without the state cache:
//
//	go test -run '^$' -bench LongStreams -benchtime 200x ./commands/
func BenchmarkLongStreams(b *testing.B) {
	e := newEnv(b)
	o := e.newOrg(b)
	ctx := o.ctx(crm.RoleOwner)
	contact := e.newContact(b, ctx)
	deal := e.newDeal(b, ctx, contact.ID, nil)
	// History written straight to the store, 1,000 events per append.
	grow := func(s events.Stream, from, n int, ev func(i int) events.Payload) {
		for done := 0; done < n; done += 1000 {
			var pending []events.Pending
			for i := range min(1000, n-done) {
				pending = append(pending, events.Pending{Data: ev(done + i), OccurredAt: time.Now()})
			}
			if _, err := e.store.Append(context.Background(), events.Batch{Metadata: events.Metadata{TenantID: o.id},
				Streams: []events.Append{{Stream: s, Expected: from + done, Events: pending}}}); err != nil {
				b.Fatal(err)
			}
		}
	}
	cs := events.Stream{TenantID: o.id, Type: events.StreamContact, ID: contact.ID}
	grow(cs, 2, 9_999, func(int) events.Payload { return events.ContactDealLinked{DealID: uuid.New()} })
	ds := events.Stream{TenantID: o.id, Type: events.StreamDeal, ID: deal.ID}
	grow(ds, 1, 999, func(i int) events.Payload { return events.DealCommented{CommentID: uuid.New(), Text: fmt.Sprint(i)} })

	for _, cached := range []bool{false, true} {
		size := -1
		if cached {
			size = 0
		}
		app := commands.New(commands.Deps{Store: e.store, Directory: directory{e.pool}, CacheSize: size})
		name := map[bool]string{false: "uncached", true: "cached"}[cached]
		b.Run("contact-10k-deals/"+name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if _, _, err := app.UpdateContact(ctx, contact.ID, aggregates.ContactPatch{Name: aggregates.SetTo(fmt.Sprint("Ada ", i))}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("deal-1k-events/"+name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := app.CommentOnDeal(ctx, deal.ID, "hello"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("new-deal/"+name, func(b *testing.B) {
			fresh := e.newDeal(b, ctx, e.newContact(b, ctx).ID, nil)
			for b.Loop() {
				if _, _, err := app.CommentOnDeal(ctx, fresh.ID, "hello"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
