package seed

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// plan is one organization's share of the data set.
type plan struct {
	org                               *Org
	contacts, deals, tasks, minEvents int
	comments, bigDeal                 int
}

// estimate is how many events plan will append, for progress.
func (p plan) estimate() int {
	base := p.contacts + 2*p.deals + 3*p.deals + 2*p.tasks + p.tasks*2/5 + p.comments + p.bigDeal
	return max(base, p.minEvents+p.bigDeal)
}

// Vocabulary for names and titles, so that searches find a realistic
// share of rows.
var (
	firstNames = []string{"Ada", "Alan", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Edsger",
		"Donald", "Radia", "John", "Niklaus", "Leslie", "Guido", "Rob", "Sophie", "Tim", "Anita"}
	lastNames = []string{"Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie",
		"Allen", "Dijkstra", "Knuth", "Perlman", "McCarthy", "Wirth", "Lamport", "Rossum", "Pike", "Wilson", "Berners", "Borg"}
	products   = []string{"licence", "renewal", "upgrade", "support", "training", "hardware", "consulting", "pilot", "migration", "audit"}
	currencies = []string{"USD", "USD", "USD", "EUR", "GBP"}
)

// gen decides one organization's commands through the aggregates, in
// time order, and hands the resulting events to the loader.
type gen struct {
	l      *loader
	org    *Org
	caller aggregates.Caller
	meta   []byte
	now    time.Time
	step   time.Duration
}

// tick advances the seeded clock by one command.
func (g *gen) tick() time.Time {
	g.now = g.now.Add(g.step)
	return g.now
}

// emit records decided payloads on state (as the commands do with
// aggregates.Record) and queues them at the versions after `version`.
func (g *gen) emit(state aggregates.State, s events.Stream, version int, at time.Time, decided []events.Payload) error {
	for i, p := range aggregates.Record(state, s, version, at, decided...) {
		if err := g.l.add(g.meta, s, version+i+1, p); err != nil {
			return err
		}
		g.org.Events++
	}
	return nil
}

func stream(org uuid.UUID, typ string, id uuid.UUID) events.Stream {
	return events.Stream{TenantID: org, Type: typ, ID: id}
}

// generate appends p's events, spread evenly between start and end.
func (l *loader) generate(p plan, start, end time.Time) error {
	meta, err := metadataFor(*p.org, "seed")
	if err != nil {
		return err
	}
	g := &gen{l: l, org: p.org, caller: aggregates.Caller{UserID: p.org.Owner.ID, Role: crm.RoleOwner}, meta: meta,
		now: start, step: end.Sub(start) / time.Duration(max(1, p.estimate()))}
	rng, org := l.rng, p.org.ID
	const samples = 200

	// Contacts.
	contacts := make([]*aggregates.Contact, p.contacts)
	for i := range contacts {
		first, last := firstNames[rng.IntN(len(firstNames))], lastNames[rng.IntN(len(lastNames))]
		email := fmt.Sprintf("%s.%s%d@example.com", first, last, i)
		phone := fmt.Sprintf("+1 555 %07d", i)
		id := uuid.Must(uuid.NewV7())
		decided, err := aggregates.CreateContact(g.caller, id, org, aggregates.ContactInput{
			Name: fmt.Sprintf("%s %s %d", first, last, i), Email: &email, Phone: &phone})
		if err != nil {
			return err
		}
		contacts[i] = &aggregates.Contact{}
		if err := g.emit(contacts[i], stream(org, events.StreamContact, id), 0, g.tick(), decided); err != nil {
			return err
		}
		if i < samples {
			p.org.SampleContacts = append(p.org.SampleContacts, id)
		}
	}
	p.org.Contacts = len(contacts)

	// Deals, each linked to its contact in the same "command".
	createDeal := func(title string, amount crm.Amount) (*aggregates.Deal, error) {
		ct := contacts[rng.IntN(len(contacts))]
		id := uuid.Must(uuid.NewV7())
		decided, err := aggregates.CreateDeal(g.caller, id, org, aggregates.DealInput{
			ContactID: ct.ID, Title: title, Amount: amount, Currency: currencies[rng.IntN(len(currencies))]})
		if err != nil {
			return nil, err
		}
		at := g.tick()
		d := &aggregates.Deal{}
		if err := g.emit(d, stream(org, events.StreamDeal, id), 0, at, decided); err != nil {
			return nil, err
		}
		link, err := ct.LinkDeal(id)
		if err != nil {
			return nil, err
		}
		return d, g.emit(ct, stream(org, events.StreamContact, ct.ID), ct.Version, at, link)
	}
	deals := make([]*aggregates.Deal, p.deals)
	for i := range deals {
		amount := crm.Amount(100_00 + rng.Int64N(100_000_00))
		d, err := createDeal(fmt.Sprintf("%s %s deal %d", lastNames[rng.IntN(len(lastNames))],
			products[rng.IntN(len(products))], i), amount)
		if err != nil {
			return err
		}
		deals[i] = d
		if i < samples {
			p.org.SampleDeals = append(p.org.SampleDeals, d.ID)
		}
	}
	p.org.Deals = len(deals)

	// Deals move through the pipeline (with skips and rollbacks), and
	// some close as won or lost.
	for _, d := range deals {
		if err := g.pipeline(d); err != nil {
			return err
		}
	}

	// Tasks, each with deal.task_added on its deal; two in five completed.
	for i := 0; i < p.tasks; i++ {
		d := deals[rng.IntN(len(deals))]
		at := g.tick()
		today := at.UTC().Format(time.DateOnly)
		due := at.UTC().AddDate(0, 0, rng.IntN(60)).Format(time.DateOnly)
		id := uuid.Must(uuid.NewV7())
		decided, err := aggregates.CreateTask(g.caller, d, id, aggregates.TaskInput{
			Title: fmt.Sprintf("Call about %s %d", products[rng.IntN(len(products))], i), DueDate: due}, today)
		if err != nil {
			return err
		}
		added, err := d.AddTask(g.caller, id)
		if err != nil {
			return err
		}
		t := &aggregates.Task{}
		if err := g.emit(t, stream(org, events.StreamTask, id), 0, at, decided); err != nil {
			return err
		}
		if err := g.emit(d, stream(org, events.StreamDeal, d.ID), d.Version, at, added); err != nil {
			return err
		}
		if rng.IntN(5) < 2 {
			at := g.tick()
			done, err := t.Update(g.caller, d, aggregates.TaskPatch{IsDone: aggregates.SetTo(true)}, at.UTC().Format(time.DateOnly))
			if err != nil {
				return err
			}
			if err := g.emit(t, stream(org, events.StreamTask, id), t.Version, at, done); err != nil {
				return err
			}
		}
	}
	p.org.Tasks = p.tasks

	// Comments on random deals: the ones asked for, then more until the
	// organization reaches its event target.
	for n := 0; n < p.comments || p.org.Events < p.minEvents; n++ {
		if err := g.comment(deals[rng.IntN(len(deals))], fmt.Sprintf("Spoke with them about the %s (%d)", products[rng.IntN(len(products))], n)); err != nil {
			return err
		}
	}

	// One deal with exactly bigDeal events: comments, with an amount
	// change every tenth event.
	if p.bigDeal > 1 {
		d, err := createDeal("Audit replay deal", crm.Amount(500_000_00))
		if err != nil {
			return err
		}
		for d.Version < p.bigDeal {
			if d.Version%10 == 9 {
				err = g.update(d, aggregates.DealPatch{Amount: aggregates.SetTo(d.Amount + 1_00)})
			} else {
				err = g.comment(d, fmt.Sprintf("Audit note %d", d.Version+1))
			}
			if err != nil {
				return err
			}
		}
		p.org.BigDeal = d.ID
		p.org.Deals++
	}
	return nil
}

// pipeline gives d a realistic stage history, as an owner would make it:
// most deals advance a stage or a few (one in five jumps over a stage),
// one in six moves back a stage and forward again, and then half are in
// progress, two in ten won and one in ten lost (closed deals also reach
// the closed stage).
func (g *gen) pipeline(d *aggregates.Deal) error {
	rng, stages := g.l.rng, aggregates.DealStages()
	rank := 0
	setStage := func(r int) error {
		rank = r
		return g.update(d, aggregates.DealPatch{Stage: aggregates.SetTo(stages[r])})
	}
	for steps := rng.IntN(4); steps > 0 && rank < len(stages)-2; steps-- {
		next := rank + 1
		if rng.IntN(5) == 0 {
			next = rank + 2 // a skipped stage
		}
		if err := setStage(min(next, len(stages)-2)); err != nil {
			return err
		}
	}
	if rank > 0 && rng.IntN(6) == 0 { // a rollback, then forward again
		if err := setStage(rank - 1); err != nil {
			return err
		}
		if err := setStage(rank + 1); err != nil {
			return err
		}
	}
	var status string
	switch r := rng.IntN(10); {
	case r < 5:
		status = aggregates.StatusInProgress
	case r < 7:
		status = aggregates.StatusWon
	case r < 8:
		status = aggregates.StatusLost
	default:
		return nil // still new
	}
	if aggregates.IsClosedStatus(status) {
		if err := setStage(len(stages) - 1); err != nil {
			return err
		}
	}
	return g.update(d, aggregates.DealPatch{Status: aggregates.SetTo(status)})
}

// update decides a deal PATCH and emits it.
func (g *gen) update(d *aggregates.Deal, patch aggregates.DealPatch) error {
	decided, err := d.Update(g.caller, patch)
	if err != nil {
		return err
	}
	return g.emit(d, stream(g.org.ID, events.StreamDeal, d.ID), d.Version, g.tick(), decided)
}

// comment decides a comment on d and emits it.
func (g *gen) comment(d *aggregates.Deal, text string) error {
	decided, err := d.Comment(g.caller, uuid.Must(uuid.NewV7()), text)
	if err != nil {
		return err
	}
	return g.emit(d, stream(g.org.ID, events.StreamDeal, d.ID), d.Version, g.tick(), decided)
}
