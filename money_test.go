package crm_test

import (
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"

	"example.com/crm"
)

func TestParseAmount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw     string
		want    crm.Amount
		wantMsg string // "" when accepted
	}{
		// accepted
		{raw: `0`, want: 0},
		{raw: `"0"`, want: 0},
		{raw: `-0`, want: 0},
		{raw: `0.0`, want: 0},
		{raw: `100`, want: 10000},
		{raw: `"100"`, want: 10000},
		{raw: `"0.1"`, want: 10},
		{raw: `0.1`, want: 10},
		{raw: `"10000.5"`, want: 1000050},
		{raw: `"10000.50"`, want: 1000050},
		{raw: `10000.50`, want: 1000050},
		{raw: `0.01`, want: 1},
		{raw: `1e2`, want: 10000},
		{raw: `1E+2`, want: 10000},
		{raw: `1.5e-1`, want: 15},
		{raw: `1.005e1`, want: 1005},
		{raw: `100e-2`, want: 100},
		{raw: `0e9999999999`, want: 0},
		{raw: ` 7 `, want: 700},
		{raw: `999999999999.99`, want: 99_999_999_999_999},
		{raw: `"999999999999.99"`, want: crm.MaxAmount},
		{raw: `"999999999999"`, want: 99_999_999_999_900},

		// more than two fraction digits
		{raw: `"1.005"`, wantMsg: "at most 2 fraction digits"},
		{raw: `1.005`, wantMsg: "at most 2 fraction digits"},
		{raw: `"1.000"`, wantMsg: "at most 2 fraction digits"},
		{raw: `1e-3`, wantMsg: "at most 2 fraction digits"},
		{raw: `0.5e-2`, wantMsg: "at most 2 fraction digits"},
		{raw: `1e-99999999999999999999`, wantMsg: "at most 2 fraction digits"},
		// negative
		{raw: `"-1"`, wantMsg: "must not be negative"},
		{raw: `-1`, wantMsg: "must not be negative"},
		{raw: `-0.01`, wantMsg: "must not be negative"},
		// too large
		{raw: `1000000000000`, wantMsg: "at most 999999999999.99"},
		{raw: `"1000000000000.00"`, wantMsg: "at most 999999999999.99"},
		{raw: `1e12`, wantMsg: "at most 999999999999.99"},
		{raw: `1e99999999999999999999`, wantMsg: "at most 999999999999.99"},
		{raw: `99999999999999999999999999999`, wantMsg: "at most 999999999999.99"},
		// not a number
		{raw: `"abc"`, wantMsg: "must be a number"},
		// a string holds a plain decimal: no exponent (issue 9)
		{raw: `"1e2"`, wantMsg: "plain decimal"},
		{raw: `"1e3"`, wantMsg: "plain decimal"},
		{raw: `"1E+2"`, wantMsg: "plain decimal"},
		{raw: `" 1"`, wantMsg: "plain decimal"},
		{raw: `"+1"`, wantMsg: "plain decimal"},
		{raw: `true`, wantMsg: "must be a number"},
		{raw: `null`, wantMsg: "must be a number"},
		{raw: ``, wantMsg: "must be a number"},
		{raw: `""`, wantMsg: "must be a number"},
		{raw: `"NaN"`, wantMsg: "must be a number"},
		{raw: `NaN`, wantMsg: "must be a number"},
		{raw: `"Infinity"`, wantMsg: "must be a number"},
		{raw: `"-Inf"`, wantMsg: "must be a number"},
		{raw: `"1,5"`, wantMsg: "must be a number"},
		{raw: `" 1"`, wantMsg: "must be a number"},
		{raw: `"+1"`, wantMsg: "must be a number"},
		{raw: `"01"`, wantMsg: "must be a number"},
		{raw: `".5"`, wantMsg: "must be a number"},
		{raw: `"5."`, wantMsg: "must be a number"},
		{raw: `"1e"`, wantMsg: "must be a number"},
		{raw: `"0x10"`, wantMsg: "must be a number"},
		{raw: `"\u0031"`, want: 100}, // JSON escapes are decoded first
		{raw: `"1`, wantMsg: "must be a number"},
		{raw: `[1]`, wantMsg: "must be a number"},
		{raw: `{"amount":1}`, wantMsg: "must be a number"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			t.Parallel()
			got, err := crm.ParseAmount(json.RawMessage(tt.raw))
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("ParseAmount(%s) = %v, want %d", tt.raw, err, tt.want)
				}
				if got != tt.want {
					t.Fatalf("ParseAmount(%s) = %d, want %d", tt.raw, got, tt.want)
				}
				return
			}
			assertAmountError(t, err, tt.wantMsg)
		})
	}
}

func assertAmountError(t *testing.T, err error, wantMsg string) {
	t.Helper()
	if code := crm.ErrorCode(err); code != crm.CodeValidation {
		t.Fatalf("err = %v, want %s", err, crm.CodeValidation)
	}
	var ce *crm.Error
	errors.As(err, &ce)
	if len(ce.Fields) != 1 || ce.Fields[0].Field != "amount" {
		t.Fatalf("fields = %+v, want one on amount", ce.Fields)
	}
	if !strings.Contains(ce.Fields[0].Message, wantMsg) {
		t.Fatalf("message = %q, want it to contain %q", ce.Fields[0].Message, wantMsg)
	}
}

func TestAmountString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   crm.Amount
		want string
	}{
		{0, "0.00"},
		{1, "0.01"},
		{10, "0.10"},
		{100, "1.00"},
		{1000050, "10000.50"},
		{1000000, "10000.00"},
		{crm.MaxAmount, "999999999999.99"},
		{-150, "-1.50"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Amount(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
	}
}

func TestAmountJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(map[string]crm.Amount{"amount": 1000000})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"amount":"10000.00"}` {
		t.Fatalf("Marshal = %s", b)
	}

	var in struct {
		Amount crm.Amount `json:"amount"`
	}
	if err := json.Unmarshal([]byte(`{"amount":"0.1"}`), &in); err != nil || in.Amount != 10 {
		t.Fatalf("Unmarshal string: %v, %d", err, in.Amount)
	}
	if err := json.Unmarshal([]byte(`{"amount":12.34}`), &in); err != nil || in.Amount != 1234 {
		t.Fatalf("Unmarshal number: %v, %d", err, in.Amount)
	}
	// The *crm.Error reaches the caller intact, for the HTTP layer to pass
	// through.
	err = json.Unmarshal([]byte(`{"amount":"1.005"}`), &in)
	assertAmountError(t, err, "at most 2 fraction digits")
	err = json.Unmarshal([]byte(`{"amount":null}`), &in)
	assertAmountError(t, err, "must be a number")

	// What is printed reads back to the same amount.
	for _, a := range []crm.Amount{0, 1, 99, 100, 123456789, crm.MaxAmount} {
		b, _ := json.Marshal(a)
		var back crm.Amount
		if err := json.Unmarshal(b, &back); err != nil || back != a {
			t.Errorf("round trip of %d via %s = %d, %v", int64(a), b, back, err)
		}
	}
}

func TestNormalizeCurrency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string // want "" for rejected
	}{
		{"USD", "USD"},
		{"usd", "USD"},
		{"eUr", "EUR"},
		{"GBP", "GBP"},
		{"JPY", "JPY"},
		{"CHF", "CHF"},
		{"CNY", "CNY"},
		{"AED", "AED"}, // first of the list
		{"ZWG", "ZWG"}, // last of the list
		{"XCG", "XCG"},
		{"XAU", "XAU"},
		{"", ""},
		{"US", ""},
		{"USDD", ""},
		{" USD", ""},
		{"uſd", ""},      // ſ (U+017F) upper-cases to S
		{"\u212aES", ""}, // the Kelvin sign lower-cases to k
		{"usd\x00", ""},
		{"USD ", ""},
		{"ABC", ""},
		{"HRK", ""}, // withdrawn 2023 (euro)
		{"DEM", ""}, // withdrawn 2002
		{"D A", ""}, // spans two codes of the embedded list
		{"D AE", ""},
		{"US$", ""},
		{"ＵＳＤ", ""},
	}
	for _, tt := range tests {
		got, err := crm.NormalizeCurrency(tt.in)
		if tt.want != "" {
			if err != nil || got != tt.want {
				t.Errorf("NormalizeCurrency(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		var ce *crm.Error
		if !errors.As(err, &ce) || ce.Code != crm.CodeValidation || len(ce.Fields) != 1 || ce.Fields[0].Field != "currency" {
			t.Errorf("NormalizeCurrency(%q) = %q, %v; want VALIDATION_ERROR on currency", tt.in, got, err)
		}
	}
}

// The embedded list is well formed: every code accepted, sorted, unique,
// and about as many as ISO 4217 has.
func TestCurrencyListIsWellFormed(t *testing.T) {
	t.Parallel()
	codes := crm.CurrencyCodes()
	if n := len(codes); n < 170 || n > 190 {
		t.Errorf("%d codes, want about 180", n)
	}
	if !sort.StringsAreSorted(codes) {
		t.Error("codes are not sorted")
	}
	for i, c := range codes {
		if len(c) != 3 || strings.ToUpper(c) != c || strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			t.Errorf("code %q is not three upper-case letters", c)
		}
		if i > 0 && codes[i-1] == c {
			t.Errorf("code %q twice", c)
		}
		if got, err := crm.NormalizeCurrency(strings.ToLower(c)); err != nil || got != c {
			t.Errorf("NormalizeCurrency(%q) = %q, %v", strings.ToLower(c), got, err)
		}
	}
}
