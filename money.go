package crm

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Amount is a sum of money in minor units (cents) of its currency. It is
// never a float: API.md §1 wants exact decimals, so amounts are parsed
// from their decimal text and printed with exactly two fraction digits.
type Amount int64

// MaxAmount is the largest amount the API accepts: 999 999 999 999.99.
const MaxAmount Amount = 99_999_999_999_999

// amountDigits is the number of digits of MaxAmount in cents.
const amountDigits = 14

// ParseAmount reads an amount from a JSON number (100, 10000.5, 1e2) or
// a JSON string holding a plain decimal ("10000.50": digits, at most one
// point, no exponent, no sign but "-0"). It refuses, with a
// VALIDATION_ERROR on the field "amount": anything that is not a decimal
// number (true, null, "abc", "NaN", "Infinity"); more than two fraction
// digits, also when written with an exponent (1.005, 1e-3, "1.000");
// negative numbers ("-0" is zero and accepted); and amounts above
// MaxAmount.
//
// The text is parsed digit by digit, never through float64, so
// 999999999999.99 and 0.1 are exact.
func ParseAmount(raw json.RawMessage) (Amount, error) {
	raw = bytes.TrimSpace(raw)
	text := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, amountError("must be a number or a decimal string")
		}
		return ParseAmountString(text)
	}
	d, ok := scanDecimal(text)
	if !ok {
		return 0, amountError("must be a number or a decimal string")
	}
	return d.amount()
}

// ParseAmountString reads an amount from a plain decimal text ("10000.50";
// no exponent, unlike a JSON number), with the other rules of ParseAmount.
// Query parameters (min_amount) use it directly.
func ParseAmountString(s string) (Amount, error) {
	d, ok := scanDecimal(s)
	if !ok || strings.ContainsAny(s, "eE") {
		return 0, amountError("must be a number or a plain decimal string such as \"10000.50\"")
	}
	return d.amount()
}

// amount turns a scanned decimal into cents, or the error saying which
// rule it breaks.
func (d decimal) amount() (Amount, error) {
	digits := strings.TrimLeft(d.digits, "0")
	if d.negative && digits != "" {
		return 0, amountError("must not be negative")
	}
	if d.scale > 2 {
		return 0, amountError("must have at most 2 fraction digits")
	}
	if digits == "" {
		return 0, nil
	}
	// digits × 10^(2-scale) cents; bound the length before converting so
	// that neither the shift nor ParseInt can overflow.
	if len(digits)+2-d.scale > amountDigits {
		return 0, amountError("must be at most " + MaxAmount.String())
	}
	cents, err := strconv.ParseInt(digits+strings.Repeat("0", 2-d.scale), 10, 64)
	if err != nil || Amount(cents) > MaxAmount {
		return 0, amountError("must be at most " + MaxAmount.String())
	}
	return Amount(cents), nil
}

// decimal is the text of a number split into its significant digits and
// the power of ten they are divided by: 12.5e1 is {"125", 0}.
type decimal struct {
	negative bool
	digits   string
	scale    int
}

// maxExponent bounds the exponent we read; anything larger is out of
// range (or has too many fraction digits) for any amount anyway.
const maxExponent = 1000

// scanDecimal parses the JSON number grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanDecimal(s string) (decimal, bool) {
	var d decimal
	i := 0
	if i < len(s) && s[i] == '-' {
		d.negative = true
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[start:i]
	if intPart == "" || (len(intPart) > 1 && intPart[0] == '0') {
		return d, false
	}
	var frac string
	if i < len(s) && s[i] == '.' {
		i++
		start = i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		frac = s[start:i]
		if frac == "" {
			return d, false
		}
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		sign := 1
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			if s[i] == '-' {
				sign = -1
			}
			i++
		}
		start = i
		for i < len(s) && isDigit(s[i]) {
			if exp < maxExponent {
				exp = exp*10 + int(s[i]-'0')
			}
			i++
		}
		if start == i {
			return d, false
		}
		exp *= sign
	}
	if i != len(s) {
		return d, false
	}
	d.digits = intPart + frac
	d.scale = len(frac) - exp
	if d.scale < 0 {
		// A positive exponent beyond the fraction: append the zeros, but
		// never more than an amount can have (the caller rejects it).
		d.digits += strings.Repeat("0", min(-d.scale, amountDigits+1))
		d.scale = 0
	}
	return d, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func amountError(msg string) *Error {
	return Invalid(FieldError{Field: "amount", Message: msg})
}

// String returns the amount with exactly two fraction digits: "10000.00".
func (a Amount) String() string {
	sign := ""
	u := uint64(a)
	if a < 0 {
		sign = "-"
		u = -u
	}
	frac := u % 100
	return sign + strconv.FormatUint(u/100, 10) + "." + string([]byte{byte('0' + frac/10), byte('0' + frac%10)})
}

// MarshalJSON writes the amount as a decimal string: "10000.00".
func (a Amount) MarshalJSON() ([]byte, error) {
	return []byte(`"` + a.String() + `"`), nil
}

// UnmarshalJSON reads an amount with the rules of ParseAmount, so a
// request field of type Amount validates itself. Unlike most types it
// refuses null: an amount is never optional once its key is present
// (PATCH bodies tell "absent" from "null" before this is called).
func (a *Amount) UnmarshalJSON(b []byte) error {
	v, err := ParseAmount(b)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// NormalizeCurrency upper-cases an ISO 4217 alphabetic code ("usd" →
// "USD") and refuses, with a VALIDATION_ERROR on the field "currency",
// anything that is not an active code.
//
// Only three ASCII letters are considered: no trimming, and no Unicode
// case mapping ("uſd" is not "USD", though strings.ToUpper says so).
func NormalizeCurrency(s string) (string, error) {
	var b [3]byte
	ok := len(s) == 3
	for i := 0; ok && i < 3; i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z':
			b[i] = c
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		default:
			ok = false
		}
	}
	code := string(b[:])
	if !ok || !currencies[code] {
		return "", Invalid(FieldError{Field: "currency", Message: "must be an ISO 4217 currency code"})
	}
	return code, nil
}

// CurrencyCodes returns the accepted ISO 4217 codes, sorted (for the
// OpenAPI document's enum, for instance).
func CurrencyCodes() []string { return strings.Fields(iso4217) }

// currencies is the set of iso4217.
var currencies = func() map[string]bool {
	set := map[string]bool{}
	for _, c := range CurrencyCodes() {
		set[c] = true
	}
	return set
}()

// iso4217 lists the active alphabetic codes of ISO 4217 (list one,
// including funds and the X codes for precious metals, SDR, testing and
// "no currency"), separated by spaces. It follows the 2025 list:
// ANG (replaced by XCG), HRK, ZWL and the other withdrawn codes are out;
// CUC and SLL, still listed during their transition, are in.
// Updating it: add or remove a code, keeping the order (a test checks).
const iso4217 = "" +
	"AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD " +
	"BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF " +
	"DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG " +
	"HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK " +
	"LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN " +
	"NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR " +
	"SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP " +
	"TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU " +
	"XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG "
