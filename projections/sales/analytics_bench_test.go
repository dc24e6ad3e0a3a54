package sales_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/events"
	"example.com/crm/projections"
	"example.com/crm/projections/sales"
)

// BenchmarkDealsCatchUp measures how fast the deals projector, analytics
// counters included, processes a backlog (what a rebuild costs): 5,000 deals of one organization, each
// created, moved, closed and repriced (20,000 events, all of which write),
// appended while the projector is stopped; then the projector runs until
// it has caught up. Every batch of 100 events updates the same few
// aggregate rows up to 100 times in one transaction. Run with:
//
//	go test -run '^$' -bench DealsCatchUp -benchtime 1x ./projections/sales/
func BenchmarkDealsCatchUp(b *testing.B) {
	for b.Loop() {
		e := newStoppedEnv(b)
		o := e.newOrg(b)
		const deals, perBatch = 5000, 100
		n := 0
		for range deals / perBatch {
			batch := events.Batch{Metadata: events.Metadata{TenantID: o.id}}
			for i := range perBatch {
				id := uuid.Must(uuid.NewV7())
				at := time.Now()
				pend := func(p events.Payload) events.Pending { return events.Pending{Data: p, OccurredAt: at} }
				batch.Streams = append(batch.Streams, events.Append{
					Stream: events.Stream{TenantID: o.id, Type: events.StreamDeal, ID: id},
					Events: []events.Pending{
						pend(events.DealCreated{DealID: id, ContactID: uuid.New(), OwnerID: uuid.New(), Title: "D",
							Amount: crm.Amount(100 * (i + 1)), Currency: []string{"USD", "EUR"}[i%2], Status: "new", Stage: "qualification"}),
						pend(stage("qualification", []string{"proposal", "negotiation", "closed"}[i%3])),
						pend(status("new", []string{"in_progress", "won", "lost"}[i%3])),
						pend(changes("amount", "1.00", "2.50")),
					},
				})
				n += 4
			}
			if _, err := e.store.Append(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		e.start(b)
		if err := projections.NewWaiter(e.pool, e.progress, 5*time.Minute).Wait(context.Background(), o.id, sales.NameDeals); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		o.checkAggregates()
		b.ReportMetric(float64(n)/took.Seconds(), "events/s")
		e.stopAll()
	}
}

// BenchmarkDealsLag appends one deal event every 2 ms (1,000 in all) and
// measures, for each, the time from the append being acknowledged to the
// deals checkpoint covering it (when a read-your-writes query sees
// it): BENCHMARKS.md W2 for the deals projection, which the analytics read. Run with:
//
//	go test -run '^$' -bench 'DealsLag$' -benchtime 1x ./projections/sales/
func BenchmarkDealsLag(b *testing.B) {
	for b.Loop() {
		e := newEnv(b)
		o := e.newOrg(b)
		w := projections.NewWaiter(e.pool, e.progress, 10*time.Second)
		deal := o.newDeal(100, "USD")
		const n = 1000
		lags := make([]time.Duration, n)
		var wg sync.WaitGroup
		tick := time.NewTicker(2 * time.Millisecond)
		for i := range n {
			<-tick.C
			a := events.Append{Stream: events.Stream{TenantID: o.id, Type: events.StreamDeal, ID: deal}, Expected: o.versions[deal],
				Events: []events.Pending{{Data: changes("amount", "1.00", []string{"2.00", "3.00"}[i%2]), OccurredAt: time.Now()}}}
			res, err := e.store.Append(context.Background(), events.Batch{Metadata: events.Metadata{TenantID: o.id}, Streams: []events.Append{a}})
			if err != nil {
				b.Fatal(err)
			}
			o.versions[deal]++
			acked := time.Now()
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := w.WaitFor(context.Background(), projections.Horizon{TransactionID: res.TransactionID, Position: res.LastPosition}, sales.NameDeals); err != nil {
					b.Error(err)
				}
				lags[i] = time.Since(acked)
			}()
		}
		tick.Stop()
		wg.Wait()
		slices.Sort(lags)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		b.ReportMetric(ms(lags[n/2]), "p50-ms")
		b.ReportMetric(ms(lags[n*99/100]), "p99-ms")
		e.stopAll()
	}
}
