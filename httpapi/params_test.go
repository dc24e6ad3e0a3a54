package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"example.com/crm"
	"github.com/google/uuid"
	"github.com/gorilla/mux"
)

const testUUID = "0193b9a4-5f6e-7c3d-8a2b-1c2d3e4f5a6b"

// wantParamError fails unless err is a VALIDATION_ERROR naming field.
func wantParamError(tb testing.TB, err error, field string) {
	tb.Helper()
	var ce *crm.Error
	if !errors.As(err, &ce) || ce.Code != crm.CodeValidation || len(ce.Fields) == 0 || ce.Fields[0].Field != field {
		tb.Fatalf("err = %#v, want VALIDATION_ERROR naming %q", err, field)
	}
	if StatusOf(err) != http.StatusBadRequest {
		tb.Fatalf("status %d", StatusOf(err))
	}
}

func TestPathUUID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		vars      map[string]string
		want      uuid.UUID
		wantField string
		wantBug   bool
	}{
		{name: "valid", vars: map[string]string{"deal_id": testUUID}, want: uuid.MustParse(testUUID)},
		{name: "upper case", vars: map[string]string{"deal_id": "0193B9A4-5F6E-7C3D-8A2B-1C2D3E4F5A6B"}, want: uuid.MustParse(testUUID)},
		{name: "malformed", vars: map[string]string{"deal_id": "42"}, wantField: "deal_id"},
		{name: "braces form refused", vars: map[string]string{"deal_id": "{" + testUUID + "}"}, wantField: "deal_id"},
		{name: "bare hex refused", vars: map[string]string{"deal_id": "0193b9a45f6e7c3d8a2b1c2d3e4f5a6b"}, wantField: "deal_id"},
		{name: "route without the variable", vars: map[string]string{}, wantBug: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := mux.SetURLVars(httptest.NewRequest("GET", "/", nil), tt.vars)
			got, err := PathUUID(r, "deal_id")
			switch {
			case tt.wantBug:
				if err == nil || StatusOf(err) != 500 {
					t.Errorf("err = %v, want a 500", err)
				}
			case tt.wantField != "":
				wantParamError(t, err, tt.wantField)
			case err != nil || got != tt.want:
				t.Errorf("got %v, %v", got, err)
			}
		})
	}
}

func TestPaging(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query      string
		page, size int
		wantFields []string
	}{
		{query: "", page: 1, size: 20},
		{query: "page=3&page_size=100", page: 3, size: 100},
		{query: "page_size=1", page: 1, size: 1},
		{query: "page=&page_size=", page: 1, size: 20},
		{query: "page=0", wantFields: []string{"page"}},
		{query: "page=-1", wantFields: []string{"page"}},
		{query: "page=x", wantFields: []string{"page"}},
		{query: "page=99999999999999999999", wantFields: []string{"page"}},
		{query: "page=3000000000", wantFields: []string{"page"}},
		{query: "page_size=0", wantFields: []string{"page_size"}},
		{query: "page_size=101", wantFields: []string{"page_size"}},
		{query: "page=1&page=2", wantFields: []string{"page"}},
		{query: "page=0&page_size=500", wantFields: []string{"page", "page_size"}},
		{query: "sort=name&unknown=1", page: 1, size: 20},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			page, size, err := Paging(httptest.NewRequest("GET", "/x?"+tt.query, nil))
			if tt.wantFields == nil {
				if err != nil || page != tt.page || size != tt.size {
					t.Errorf("got %d %d %v, want %d %d", page, size, err, tt.page, tt.size)
				}
				return
			}
			var ce *crm.Error
			if !errors.As(err, &ce) || ce.Code != crm.CodeValidation {
				t.Fatalf("err = %v", err)
			}
			var fields []string
			for _, f := range ce.Fields {
				fields = append(fields, f.Field)
			}
			if !reflect.DeepEqual(fields, tt.wantFields) {
				t.Errorf("fields %v, want %v", fields, tt.wantFields)
			}
		})
	}
}

func TestQueryHelpers(t *testing.T) {
	t.Parallel()
	type result struct {
		v   any
		ok  bool
		err error
	}
	uuidOf := func(r *http.Request) result { v, ok, err := QueryUUID(r, "p"); return result{v, ok, err} }
	boolOf := func(r *http.Request) result { v, ok, err := QueryBool(r, "p"); return result{v, ok, err} }
	dateOf := func(r *http.Request) result { v, ok, err := QueryDate(r, "p"); return result{v, ok, err} }
	timeOf := func(r *http.Request) result { v, ok, err := QueryTime(r, "p"); return result{v, ok, err} }
	enumOf := func(r *http.Request) result {
		v, ok, err := QueryEnum(r, "p", "lead", "won")
		return result{v, ok, err}
	}
	tests := []struct {
		name    string
		get     func(*http.Request) result
		query   string
		want    any
		wantOK  bool
		wantErr bool
	}{
		{name: "uuid", get: uuidOf, query: "p=" + testUUID, want: uuid.MustParse(testUUID), wantOK: true},
		{name: "uuid absent", get: uuidOf, query: "", want: uuid.Nil},
		{name: "uuid empty", get: uuidOf, query: "p=", want: uuid.Nil},
		{name: "uuid malformed", get: uuidOf, query: "p=nope", wantErr: true},
		{name: "uuid twice", get: uuidOf, query: "p=" + testUUID + "&p=" + testUUID, wantErr: true},
		{name: "bool true", get: boolOf, query: "p=true", want: true, wantOK: true},
		{name: "bool 0", get: boolOf, query: "p=0", want: false, wantOK: true},
		{name: "bool absent", get: boolOf, query: "", want: false},
		{name: "bool malformed", get: boolOf, query: "p=yes", wantErr: true},
		{name: "date", get: dateOf, query: "p=2026-11-25", want: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), wantOK: true},
		{name: "date absent", get: dateOf, query: "", want: time.Time{}},
		{name: "date with time", get: dateOf, query: "p=2026-11-25T10:00:00Z", wantErr: true},
		{name: "date impossible", get: dateOf, query: "p=2026-02-30", wantErr: true},
		{name: "time Z", get: timeOf, query: "p=2026-11-25T19:08:38.123Z", want: time.Date(2026, 11, 25, 19, 8, 38, 123e6, time.UTC), wantOK: true},
		{name: "time offset is converted to UTC", get: timeOf, query: "p=2026-11-25T20:08:38%2B01:00", want: time.Date(2026, 11, 25, 19, 8, 38, 0, time.UTC), wantOK: true},
		{name: "time date only", get: timeOf, query: "p=2026-11-25", wantErr: true},
		{name: "enum", get: enumOf, query: "p=won", want: "won", wantOK: true},
		{name: "enum absent", get: enumOf, query: "", want: ""},
		{name: "enum unknown", get: enumOf, query: "p=lost", wantErr: true},
		{name: "enum is case-sensitive", get: enumOf, query: "p=WON", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.get(httptest.NewRequest("GET", "/x?other=1&"+tt.query, nil))
			if tt.wantErr {
				wantParamError(t, got.err, "p")
				return
			}
			if got.err != nil || got.ok != tt.wantOK || !reflect.DeepEqual(got.v, tt.want) {
				t.Errorf("got %v %v %v, want %v %v", got.v, got.ok, got.err, tt.want, tt.wantOK)
			}
		})
	}
}

func TestQueryValuesAndEnums(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query     string
		want      []string
		wantEnums []string
		wantErr   bool
	}{
		{query: "", want: nil, wantEnums: nil},
		{query: "stage=lead", want: []string{"lead"}, wantEnums: []string{"lead"}},
		{query: "stage=lead&stage=won", want: []string{"lead", "won"}, wantEnums: []string{"lead", "won"}},
		{query: "stage=lead,won", want: []string{"lead", "won"}, wantEnums: []string{"lead", "won"}},
		{query: "stage=lead,+won,,&stage=lead", want: []string{"lead", "won", "lead"}, wantEnums: []string{"lead", "won"}},
		{query: "stage=lead,nope", want: []string{"lead", "nope"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/x?"+tt.query, nil)
			if got := QueryValues(r, "stage"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("QueryValues = %q, want %q", got, tt.want)
			}
			got, err := QueryEnums(r, "stage", "lead", "qualified", "won")
			if tt.wantErr {
				wantParamError(t, err, "stage")
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.wantEnums) {
				t.Errorf("QueryEnums = %q, %v, want %q", got, err, tt.wantEnums)
			}
		})
	}
}

func TestAccepts(t *testing.T) {
	t.Parallel()
	ran := false
	h := Accepts(func(w http.ResponseWriter, _ *http.Request) error {
		ran = true
		w.WriteHeader(http.StatusNoContent)
		return nil
	}, "page", "page_size")
	tests := []struct {
		name       string
		query      string
		wantFields []string
		wantDetail string
	}{
		{name: "no query", query: ""},
		{name: "declared ones", query: "?page=2&page_size=5"},
		{name: "declared, empty", query: "?page="},
		{name: "one unknown", query: "?page=1&pagesize=5", wantFields: []string{"pagesize"},
			wantDetail: "unknown query parameter: pagesize"},
		{name: "several, sorted", query: "?z=1&a=2&page=1", wantFields: []string{"a", "z"},
			wantDetail: "unknown query parameter: a, z"},
		{name: "a bare key", query: "?verbose", wantFields: []string{"verbose"}},
		{name: "case matters", query: "?Page=1", wantFields: []string{"Page"}},
	}
	for _, tc := range tests {
		ran = false
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/things"+tc.query, nil))
		if tc.wantFields == nil {
			if rec.Code != http.StatusNoContent || !ran {
				t.Errorf("%s: status %d, ran %v", tc.name, rec.Code, ran)
			}
			continue
		}
		if ran {
			t.Errorf("%s: the handler ran", tc.name)
		}
		p := readProblem(t, rec)
		var fields []string
		for _, f := range p.Errors {
			fields = append(fields, f.Field)
			if f.Message != "unknown query parameter; this route takes page, page_size" {
				t.Errorf("%s: message %q", tc.name, f.Message)
			}
		}
		if p.Code != crm.CodeValidation || !reflect.DeepEqual(fields, tc.wantFields) {
			t.Errorf("%s: %s %v, want VALIDATION_ERROR %v", tc.name, p.Code, fields, tc.wantFields)
		}
		if tc.wantDetail != "" && p.Detail != tc.wantDetail {
			t.Errorf("%s: detail %q, want %q", tc.name, p.Detail, tc.wantDetail)
		}
	}

	// A route that takes none says so.
	rec := httptest.NewRecorder()
	Accepts(func(http.ResponseWriter, *http.Request) error { return nil }).
		ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x?page=1", nil))
	if p := readProblem(t, rec); len(p.Errors) != 1 || p.Errors[0].Message != "unknown query parameter; this route takes none" {
		t.Errorf("route without parameters: %+v", p)
	}
}
