package crm_test

import (
	"encoding/json"
	"strings"
	"testing"

	"example.com/crm"
)

// FuzzParseAmount checks, for any bytes a client can send as the JSON
// value of "amount": nothing panics; a refusal is a VALIDATION_ERROR; an
// accepted amount lies in [0, MaxAmount] and reads back unchanged from
// its string, its JSON and its bare-number forms. The same text given to
// ParseAmountString (a query parameter) is never read more loosely, and
// quoting it as a JSON string gives exactly ParseAmountString's answer.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{
		"0", "-0", "100", "10000.5", "10000.50", "1e2", "1E+2", "12.5e1", "1e-2", "1.005", "1e-3",
		`"10000.50"`, `"1e3"`, `"-0"`, `"-1"`, `" 1"`, `"1 "`, `"\u0000"`, `"\ud800"`, `"1\u00001"`,
		"999999999999.99", "1000000000000", "999999999999.999", "99999999999999999999999999",
		"1e1000", "1e999999999999999999", "1e-999999999999999999", "0e99999", "-1", "01", "1.", ".5",
		"NaN", "Infinity", "true", "null", "[]", "{}", `"abc"`, "\x00", "\xff\xfe", "1\x00", "",
		" 5 ", "0.1", "0.10", "0.100", "9223372036854775807", "18446744073709551616",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := crm.ParseAmount(raw)
		checkAmount(t, "ParseAmount", a, err)

		s := string(raw)
		b, errS := crm.ParseAmountString(s)
		checkAmount(t, "ParseAmountString", b, errS)
		if errS == nil && (err != nil || a != b) {
			t.Fatalf("ParseAmountString(%q) = %v but ParseAmount = %v, %v", s, b, a, err)
		}
		quoted, _ := json.Marshal(s)
		c, errQ := crm.ParseAmount(quoted)
		if (errQ == nil) != (errS == nil) || c != b {
			t.Fatalf("ParseAmount(%s) = %v, %v; ParseAmountString(%q) = %v, %v", quoted, c, errQ, s, b, errS)
		}
	})
}

func checkAmount(t *testing.T, fn string, a crm.Amount, err error) {
	t.Helper()
	if err != nil {
		if code := crm.ErrorCode(err); code != crm.CodeValidation {
			t.Fatalf("%s: error code %q, want %q (%v)", fn, code, crm.CodeValidation, err)
		}
		return
	}
	if a < 0 || a > crm.MaxAmount {
		t.Fatalf("%s accepted %d, outside [0, MaxAmount]", fn, a)
	}
	str := a.String()
	if back, err := crm.ParseAmountString(str); err != nil || back != a {
		t.Fatalf("%s: %d prints as %q, which reads back as %v, %v", fn, a, str, back, err)
	}
	js, _ := a.MarshalJSON()
	if back, err := crm.ParseAmount(js); err != nil || back != a {
		t.Fatalf("%s: %d marshals as %s, which reads back as %v, %v", fn, a, js, back, err)
	}
	if back, err := crm.ParseAmount([]byte(str)); err != nil || back != a {
		t.Fatalf("%s: %d as a JSON number %s reads back as %v, %v", fn, a, str, back, err)
	}
	if i := strings.IndexByte(str, '.'); i < 0 || len(str)-i != 3 {
		t.Fatalf("%s: %d prints as %q, not with two fraction digits", fn, a, str)
	}
}

// FuzzNormalizeCurrency checks that a code is accepted only as three
// ASCII letters naming an active ISO 4217 code, comes back upper-cased,
// and is a fixed point; everything else is a VALIDATION_ERROR.
func FuzzNormalizeCurrency(f *testing.F) {
	for _, s := range []string{
		"USD", "usd", "uSd", "uſd", " USD", "USD ", "US", "USDD", "", "\x00SD", "U\x00D", "\xff\xfe\xfd",
		"\xed\xa0\x80", "ANG", "HRK", "XXX", "XTS", "ＵＳＤ", "ﬀe", "K\u212aK", "123", "eur\n",
	} {
		f.Add(s)
	}
	codes := map[string]bool{}
	for _, c := range crm.CurrencyCodes() {
		codes[c] = true
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, err := crm.NormalizeCurrency(s)
		if err != nil {
			if c := crm.ErrorCode(err); c != crm.CodeValidation {
				t.Fatalf("NormalizeCurrency(%q): code %q, want %q", s, c, crm.CodeValidation)
			}
			return
		}
		if !codes[code] {
			t.Fatalf("NormalizeCurrency(%q) = %q, not an ISO 4217 code", s, code)
		}
		if len(s) != 3 || !strings.EqualFold(s, code) {
			t.Fatalf("NormalizeCurrency(%q) = %q: accepted something other than the code in another ASCII case", s, code)
		}
		for i := 0; i < 3; i++ {
			if c := s[i]; c >= 0x80 {
				t.Fatalf("NormalizeCurrency(%q) accepted a non-ASCII byte", s)
			}
		}
		if again, err := crm.NormalizeCurrency(code); err != nil || again != code {
			t.Fatalf("NormalizeCurrency(%q) = %q, %v; want the fixed point %q", code, again, err, code)
		}
	})
}
