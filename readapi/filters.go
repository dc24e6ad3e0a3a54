package readapi

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"example.com/crm"
)

// Paging bounds of API.md §1, Lists.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
	// MaxPage keeps (page-1) × page_size far from overflowing an OFFSET.
	MaxPage = 1<<31 - 1
)

// Page selects one page of a list: Page ≥ 1 (0 means 1), PageSize 1–100
// (0 means 20).
type Page struct {
	Page     int
	PageSize int
}

// Offset is how many items precede the page (call on a normalized Page).
func (p Page) Offset() int64 { return int64(p.Page-1) * int64(p.PageSize) }

// normalize applies the defaults and checks the bounds.
func (p Page) normalize(fields *[]crm.FieldError) Page {
	if p.Page == 0 {
		p.Page = 1
	}
	if p.PageSize == 0 {
		p.PageSize = DefaultPageSize
	}
	if p.Page < 1 || p.Page > MaxPage {
		*fields = append(*fields, crm.FieldError{Field: "page", Message: "must be ≥ 1"})
	}
	if p.PageSize < 1 || p.PageSize > MaxPageSize {
		*fields = append(*fields, crm.FieldError{Field: "page_size", Message: fmt.Sprintf("must be between 1 and %d", MaxPageSize)})
	}
	return p
}

// Order is a sort direction.
type Order string

// The two sort directions; the zero Order means the list's default.
const (
	Asc  Order = "asc"
	Desc Order = "desc"
)

func (o Order) normalize(def Order, fields *[]crm.FieldError) Order {
	switch o {
	case "":
		return def
	case Asc, Desc:
		return o
	}
	*fields = append(*fields, crm.FieldError{Field: "order", Message: "must be asc or desc"})
	return def
}

// ContactOrderBy is a sort key of GET /contacts.
type ContactOrderBy string

// Sort keys of GET /contacts. Names sort case-insensitively.
const (
	ContactsByCreatedAt ContactOrderBy = "created_at"
	ContactsByName      ContactOrderBy = "name"
)

// ContactFilter is the query of GET /contacts.
type ContactFilter struct {
	Page
	// Search is a case-insensitive substring of name, email or phone
	// (trimmed; empty means no search). It is literal: % and _ match
	// themselves.
	Search string
	// OwnerID, when not uuid.Nil, keeps the contacts it owns.
	OwnerID uuid.UUID
	// OrderBy defaults to created_at, Order to desc; ties break by id.
	OrderBy ContactOrderBy
	Order   Order
}

// Normalize returns f with its defaults applied, or a VALIDATION_ERROR
// naming every query parameter at fault.
func (f ContactFilter) Normalize() (ContactFilter, error) {
	var fields []crm.FieldError
	f.Page = f.Page.normalize(&fields)
	f.Search = searchTerm(f.Search, &fields)
	switch f.OrderBy {
	case "":
		f.OrderBy = ContactsByCreatedAt
	case ContactsByCreatedAt, ContactsByName:
	default:
		fields = append(fields, crm.FieldError{Field: "order_by", Message: "must be created_at or name"})
	}
	f.Order = f.Order.normalize(Desc, &fields)
	return f, invalid(fields)
}

// DealOrderBy is a sort key of GET /deals.
type DealOrderBy string

// Sort keys of GET /deals. Titles sort case-insensitively.
const (
	DealsByCreatedAt DealOrderBy = "created_at"
	DealsByUpdatedAt DealOrderBy = "updated_at"
	DealsByAmount    DealOrderBy = "amount"
	DealsByTitle     DealOrderBy = "title"
)

// DealFilter is the query of GET /deals. Zero fields do not filter.
type DealFilter struct {
	Page
	// Statuses and Stages keep deals in any of them. Values are compared
	// as given: the HTTP layer rejects unknown ones.
	Statuses []string
	Stages   []string
	OwnerID  uuid.UUID
	// ContactID keeps the deals of one contact.
	ContactID uuid.UUID
	// Currency is an ISO 4217 code, compared upper-cased; an unknown code
	// is a VALIDATION_ERROR.
	Currency string
	// MinAmount and MaxAmount bound the amount, inclusive. An amount is
	// compared as a number whatever its currency.
	MinAmount, MaxAmount *crm.Amount
	// Search is a case-insensitive substring of the title (trimmed,
	// literal).
	Search string
	// CreatedAfter and CreatedBefore bound created_at, inclusive, at the
	// API's resolution: created_at as the API shows it (to the
	// millisecond, TimeLayout; the store keeps the microsecond) is
	// compared, so a bound copied from a deal's created_at keeps that
	// deal. Normalize turns them into bounds on the stored value.
	CreatedAfter, CreatedBefore time.Time
	// OrderBy defaults to created_at, Order to desc; ties break by id.
	OrderBy DealOrderBy
	Order   Order
}

// Normalize returns f with its defaults applied, or a VALIDATION_ERROR
// naming every query parameter at fault.
func (f DealFilter) Normalize() (DealFilter, error) {
	var fields []crm.FieldError
	f.Page = f.Page.normalize(&fields)
	f.Search = searchTerm(f.Search, &fields)
	if f.Currency != "" {
		code, err := crm.NormalizeCurrency(f.Currency)
		if err != nil {
			fields = append(fields, crm.FieldError{Field: "currency", Message: "must be an ISO 4217 currency code"})
		}
		f.Currency = code
	}
	switch f.OrderBy {
	case "":
		f.OrderBy = DealsByCreatedAt
	case DealsByCreatedAt, DealsByUpdatedAt, DealsByAmount, DealsByTitle:
	default:
		fields = append(fields, crm.FieldError{Field: "order_by", Message: "must be created_at, updated_at, amount or title"})
	}
	f.Order = f.Order.normalize(Desc, &fields)
	f.CreatedAfter, f.CreatedBefore = shownFrom(f.CreatedAfter), shownUntil(f.CreatedBefore)
	return f, invalid(fields)
}

// shownFrom is the first stored instant the API shows as t or later: t
// itself on a millisecond, else the next millisecond (zero stays zero).
func shownFrom(t time.Time) time.Time {
	if ms := t.Truncate(time.Millisecond); !ms.Equal(t) {
		return ms.Add(time.Millisecond)
	}
	return t
}

// shownUntil is the last stored instant the API shows as t or earlier:
// the end of t's millisecond (zero stays zero).
func shownUntil(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Millisecond).Add(time.Millisecond - time.Nanosecond)
}

// TaskOrderBy is a sort key of GET /tasks.
type TaskOrderBy string

// Sort keys of GET /tasks.
const (
	TasksByDueDate   TaskOrderBy = "due_date"
	TasksByCreatedAt TaskOrderBy = "created_at"
)

// TaskFilter is the query of GET /tasks. Tasks that were deleted, or whose
// deal was, are never listed.
type TaskFilter struct {
	Page
	// DealID keeps the tasks of one deal.
	DealID uuid.UUID
	// OnlyOpen keeps tasks that are not done.
	OnlyOpen bool
	// DueAfter and DueBefore bound due_date, inclusive; only their UTC
	// date counts (the HTTP layer passes midnight UTC).
	DueAfter, DueBefore time.Time
	// OrderBy defaults to due_date, Order to asc; ties break by id.
	OrderBy TaskOrderBy
	Order   Order
}

// Normalize returns f with its defaults applied, or a VALIDATION_ERROR
// naming every query parameter at fault.
func (f TaskFilter) Normalize() (TaskFilter, error) {
	var fields []crm.FieldError
	f.Page = f.Page.normalize(&fields)
	switch f.OrderBy {
	case "":
		f.OrderBy = TasksByDueDate
	case TasksByDueDate, TasksByCreatedAt:
	default:
		fields = append(fields, crm.FieldError{Field: "order_by", Message: "must be due_date or created_at"})
	}
	f.Order = f.Order.normalize(Asc, &fields)
	return f, invalid(fields)
}

// ActivityFilter is the query of GET /deals/{deal_id}/activities.
type ActivityFilter struct {
	Page
	// Types keeps entries of any of these types (ActivityTypes).
	Types []string
	// Order defaults to asc (oldest first); entries sort by created_at,
	// ties by id.
	Order Order
}

// Normalize returns f with its defaults applied, or a VALIDATION_ERROR
// naming every query parameter at fault.
func (f ActivityFilter) Normalize() (ActivityFilter, error) {
	var fields []crm.FieldError
	f.Page = f.Page.normalize(&fields)
	known := ActivityTypes()
	for _, t := range f.Types {
		if !slices.Contains(known, t) {
			fields = append(fields, crm.FieldError{Field: "type", Message: "must be one of " + strings.Join(known, ", ")})
			break
		}
	}
	f.Order = f.Order.normalize(Asc, &fields)
	return f, invalid(fields)
}

// searchTerm trims a search; text PostgreSQL cannot hold (invalid UTF-8,
// NUL) is a VALIDATION_ERROR rather than a failed query.
func searchTerm(s string, fields *[]crm.FieldError) string {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		*fields = append(*fields, crm.FieldError{Field: "search", Message: "must be UTF-8 text"})
		return ""
	}
	return s
}

// invalid is nil without fields, else the VALIDATION_ERROR naming them.
func invalid(fields []crm.FieldError) error {
	if len(fields) == 0 {
		return nil
	}
	return crm.Invalid(fields...)
}
