package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"example.com/crm"
	"example.com/crm/aggregates"
)

// FuzzQueryParams parses any raw query string the way GET /deals does
// (the route with the most filters) and with every query helper, and
// checks: nothing panics; every refusal is a 4xx VALIDATION_ERROR naming
// a field; what is accepted is within its documented range (page ≥ 1,
// page_size 1–100, UUIDs canonical, times in UTC, enum values allowed and
// distinct, amounts in range).
func FuzzQueryParams(f *testing.F) {
	for _, s := range []string{
		"", "page=1&page_size=20", "page=0", "page=-1", "page=2147483648", "page=99999999999999999999999",
		"page_size=101", "page=1&page=2", "page=%00", "page=1%00", "page=%ff%fe", "page=+1", "page=0x10", "page=1e3",
		"status=won,lost", "status=won&status=won", "status=WON", "stage=%20lead%20,,", "stage=lead%00",
		"owner_id=6ba7b810-9dad-11d1-80b4-00c04fd430c8", "owner_id={6ba7b810-9dad-11d1-80b4-00c04fd430c8}",
		"owner_id=6ba7b8109dad11d180b400c04fd430c8", "contact_id=urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		"currency=usd", "currency=u%C5%BFd", "currency=%20USD", "min_amount=1e3", "min_amount=-0",
		"min_amount=999999999999.99", "max_amount=1000000000000", "min_amount=0.001", "max_amount=%ed%a0%80",
		"created_after=2026-01-01T00:00:00Z", "created_after=2026-01-01T00:00:00+01:00", "created_before=2026-01-01T00:00:00%2B14:00",
		"created_after=9999-12-31T23:59:59.999999999-23:59", "created_after=0000-01-01T00:00:00Z", "created_after=2026-02-30T00:00:00Z",
		"date=2026-01-01", "date=2026-1-1", "done=true", "done=TRUE", "done=1", "done=yes", "done=true&done=false",
		"order_by=created_at&order=desc", "order=sideways", "search=%00", "search=%ff", "search=a&search=b",
		"stauts=won", "%=x", "a=%", "a;b=c", "&&&", "=", "==", "version=2147483648", "as_of=x",
	} {
		f.Add(s)
	}
	allowed := listParams("status", "stage", "owner_id", "contact_id", "currency", "min_amount", "max_amount",
		"search", "created_after", "created_before", "order_by", "order")
	f.Fuzz(func(t *testing.T, rawQuery string) {
		r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/deals", RawQuery: rawQuery}}

		checkErr := func(what string, err error) {
			t.Helper()
			if err == nil {
				return
			}
			if s := StatusOf(err); s < 400 || s > 499 || crm.ErrorCode(err) != crm.CodeValidation {
				t.Fatalf("%s of %q: %v (status %d, code %q), want a 400 VALIDATION_ERROR", what, rawQuery, err, s, crm.ErrorCode(err))
			}
			if e, ok := err.(*crm.Error); !ok || len(e.Fields) == 0 {
				t.Fatalf("%s of %q: %v names no field", what, rawQuery, err)
			}
		}
		checkErr("unknownQuery", unknownQuery(r, allowed))

		// The filters of GET /deals, as listDeals reads them.
		var p problems
		page := paging(r, &p)
		statuses := enums(r, "status", aggregates.DealStatuses(), &p)
		stages := enums(r, "stage", aggregates.DealStages(), &p)
		owner := queryUUID(r, "owner_id", &p)
		if c := single(r, "currency", &p); c != "" {
			if code := p.currency(c); code != "" && !slices.Contains(crm.CurrencyCodes(), code) {
				t.Fatalf("currency %q read as %q", c, code)
			}
		}
		for _, a := range []*crm.Amount{queryAmount(r, "min_amount", &p), queryAmount(r, "max_amount", &p)} {
			if a != nil && (*a < 0 || *a > crm.MaxAmount) {
				t.Fatalf("amount of %q read as %d", rawQuery, *a)
			}
		}
		after := queryTime(r, "created_after", &p)
		_ = single(r, "search", &p)
		checkErr("deal filter", p.err())
		if p.err() == nil {
			if page.Page < 1 || page.Page > maxPage || page.PageSize < 1 || page.PageSize > MaxPageSize {
				t.Fatalf("paging of %q = %+v, out of range", rawQuery, page)
			}
			distinctIn(t, rawQuery, statuses, aggregates.DealStatuses())
			distinctIn(t, rawQuery, stages, aggregates.DealStages())
			if back, ok := parseUUID(owner.String()); !ok || back != owner {
				t.Fatalf("owner_id of %q = %s, which does not read back", rawQuery, owner)
			}
			if !after.IsZero() && after.Location() != time.UTC {
				t.Fatalf("created_after of %q is in %v, not UTC", rawQuery, after.Location())
			}
		}

		// The remaining helpers, one by one.
		if id, ok, err := QueryUUID(r, "owner_id"); err != nil {
			checkErr("QueryUUID", err)
		} else if ok {
			if back, valid := parseUUID(id.String()); !valid || back != id {
				t.Fatalf("QueryUUID of %q = %s, which does not read back", rawQuery, id)
			}
		}
		_, _, err := QueryBool(r, "done")
		checkErr("QueryBool", err)
		if d, ok, err := QueryDate(r, "date"); err != nil {
			checkErr("QueryDate", err)
		} else if ok && (d.Location() != time.UTC || d.Hour()+d.Minute()+d.Second()+d.Nanosecond() != 0) {
			t.Fatalf("QueryDate of %q = %v, not midnight UTC", rawQuery, d)
		}
		_, _, err = QueryEnum(r, "order", "asc", "desc")
		checkErr("QueryEnum", err)
		for _, v := range QueryValues(r, "stage") {
			if v == "" || v != strings.TrimSpace(v) || strings.Contains(v, ",") {
				t.Fatalf("QueryValues of %q gave %q", rawQuery, v)
			}
		}
	})
}

func distinctIn(t *testing.T, rawQuery string, got, allowed []string) {
	t.Helper()
	for i, v := range got {
		if !slices.Contains(allowed, v) || slices.Contains(got[:i], v) {
			t.Fatalf("query %q gave %q (all: %q)", rawQuery, v, got)
		}
	}
}
