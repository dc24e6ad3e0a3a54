package httpapi

import (
	"encoding/json"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/aggregates"
)

// The request bodies of the sales routes, and their translation into the
// aggregates' inputs. JSON types are checked here (strictly: unknown
// fields are refused by Decode); the rules on values are the aggregates'.

type createContactBody struct {
	Name    *string    `json:"name"`
	Email   *string    `json:"email"`
	Phone   *string    `json:"phone"`
	OwnerID *uuid.UUID `json:"owner_id"`
}

func (b createContactBody) input() (aggregates.ContactInput, error) {
	var p problems
	p.required("name", b.Name != nil)
	return aggregates.ContactInput{Name: deref(b.Name), Email: b.Email, Phone: b.Phone, OwnerID: b.OwnerID}, p.err()
}

type patchContactBody struct {
	Name    Optional[string]    `json:"name"`
	Email   Optional[*string]   `json:"email"`
	Phone   Optional[*string]   `json:"phone"`
	OwnerID Optional[uuid.UUID] `json:"owner_id"`
}

func (b patchContactBody) patch() (aggregates.ContactPatch, error) {
	var p problems
	p.notNull("name", b.Name)
	p.notNull("owner_id", b.OwnerID)
	return aggregates.ContactPatch{
		Name:    field(b.Name),
		Email:   aggregates.Field[*string]{Set: b.Email.Set, Value: b.Email.Value},
		Phone:   aggregates.Field[*string]{Set: b.Phone.Set, Value: b.Phone.Value},
		OwnerID: field(b.OwnerID),
	}, p.err()
}

type createDealBody struct {
	ContactID *uuid.UUID      `json:"contact_id"`
	Title     *string         `json:"title"`
	Amount    json.RawMessage `json:"amount"`
	Currency  *string         `json:"currency"`
	OwnerID   *uuid.UUID      `json:"owner_id"`
}

func (b createDealBody) input() (aggregates.DealInput, error) {
	var p problems
	p.required("contact_id", b.ContactID != nil)
	p.required("title", b.Title != nil)
	p.required("amount", len(b.Amount) > 0)
	p.required("currency", b.Currency != nil)
	in := aggregates.DealInput{Title: deref(b.Title), OwnerID: b.OwnerID}
	if b.ContactID != nil {
		in.ContactID = *b.ContactID
	}
	if len(b.Amount) > 0 {
		in.Amount = p.amount(b.Amount)
	}
	if b.Currency != nil {
		in.Currency = p.currency(*b.Currency)
	}
	return in, p.err()
}

type patchDealBody struct {
	Title     Optional[string]          `json:"title"`
	Amount    Optional[json.RawMessage] `json:"amount"`
	Currency  Optional[string]          `json:"currency"`
	Status    Optional[string]          `json:"status"`
	Stage     Optional[string]          `json:"stage"`
	ContactID Optional[uuid.UUID]       `json:"contact_id"`
	OwnerID   Optional[uuid.UUID]       `json:"owner_id"`
}

func (b patchDealBody) patch() (aggregates.DealPatch, error) {
	var p problems
	p.notNull("title", b.Title)
	p.notNull("amount", b.Amount)
	p.notNull("currency", b.Currency)
	p.notNull("status", b.Status)
	p.notNull("stage", b.Stage)
	p.notNull("contact_id", b.ContactID)
	p.notNull("owner_id", b.OwnerID)
	out := aggregates.DealPatch{
		Title: field(b.Title), Status: field(b.Status), Stage: field(b.Stage),
		ContactID: field(b.ContactID), OwnerID: field(b.OwnerID),
	}
	if b.Amount.Set && !b.Amount.Null {
		out.Amount = aggregates.Field[crm.Amount]{Set: true, Value: p.amount(b.Amount.Value)}
	}
	if b.Currency.Set && !b.Currency.Null {
		out.Currency = aggregates.Field[string]{Set: true, Value: p.currency(b.Currency.Value)}
	}
	return out, p.err()
}

type createTaskBody struct {
	DealID      *uuid.UUID `json:"deal_id"`
	Title       *string    `json:"title"`
	Description *string    `json:"description"`
	DueDate     *string    `json:"due_date"`
}

func (b createTaskBody) input() (uuid.UUID, aggregates.TaskInput, error) {
	var p problems
	p.required("deal_id", b.DealID != nil)
	p.required("title", b.Title != nil)
	p.required("due_date", b.DueDate != nil)
	var deal uuid.UUID
	if b.DealID != nil {
		deal = *b.DealID
	}
	return deal, aggregates.TaskInput{Title: deref(b.Title), Description: b.Description, DueDate: deref(b.DueDate)}, p.err()
}

type patchTaskBody struct {
	Title       Optional[string]  `json:"title"`
	Description Optional[*string] `json:"description"`
	DueDate     Optional[string]  `json:"due_date"`
	IsDone      Optional[bool]    `json:"is_done"`
}

func (b patchTaskBody) patch() (aggregates.TaskPatch, error) {
	var p problems
	p.notNull("title", b.Title)
	p.notNull("due_date", b.DueDate)
	p.notNull("is_done", b.IsDone)
	return aggregates.TaskPatch{
		Title:       field(b.Title),
		Description: aggregates.Field[*string]{Set: b.Description.Set, Value: b.Description.Value},
		DueDate:     field(b.DueDate),
		IsDone:      field(b.IsDone),
	}, p.err()
}

type commentBody struct {
	Type    *string `json:"type"`
	Payload *struct {
		Text *string `json:"text"`
	} `json:"payload"`
}

func (b commentBody) text() (string, error) {
	var p problems
	p.required("type", b.Type != nil)
	if b.Type != nil && *b.Type != "comment" {
		p.add("type", "only comment activities can be posted; the others come from the deal's events")
	}
	p.required("payload.text", b.Payload != nil && b.Payload.Text != nil)
	if err := p.err(); err != nil {
		return "", err
	}
	return *b.Payload.Text, nil
}

// problems collects field errors into one VALIDATION_ERROR.
type problems struct{ fields []crm.FieldError }

func (p *problems) add(field, msg string) {
	p.fields = append(p.fields, crm.FieldError{Field: field, Message: msg})
}

func (p *problems) required(field string, present bool) {
	if !present {
		p.add(field, "is required")
	}
}

func (p *problems) notNull(name string, o interface{ isNull() bool }) {
	if o.isNull() {
		p.add(name, "cannot be null")
	}
}

func (p *problems) amount(raw json.RawMessage) crm.Amount {
	a, err := crm.ParseAmount(raw)
	if err != nil {
		p.add("amount", crm.ErrorMessage(err))
	}
	return a
}

func (p *problems) currency(s string) string {
	c, err := crm.NormalizeCurrency(s)
	if err != nil {
		p.add("currency", "must be an ISO 4217 code such as USD")
	}
	return c
}

func (p *problems) err() error {
	if len(p.fields) == 0 {
		return nil
	}
	return crm.Invalid(p.fields...)
}

func field[T any](o Optional[T]) aggregates.Field[T] {
	if !o.Set || o.Null {
		return aggregates.Field[T]{}
	}
	return aggregates.Field[T]{Set: true, Value: o.Value}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
