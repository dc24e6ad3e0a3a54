package readapi

import (
	"encoding/json"
	"testing"
)

func TestRatesAreExactWithTwoDecimals(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		num, den int64
		want     string
	}{
		{2, 3, "66.67"},    // 66.666… rounds up
		{1, 3, "33.33"},    // 33.333… rounds down
		{1, 8, "12.5"},     // 12.5 exactly
		{1, 1, "100.0"},    // as API.md writes the first stage
		{0, 5, "0.0"},      // none won
		{1, 200000, "0.0"}, // 0.0005 % rounds to 0.00
		{1, 20000, "0.01"}, // 0.005 % rounds half up
		{0, 0, "null"},
	} {
		b, err := json.Marshal(RateOf(c.num, c.den))
		if err != nil || string(b) != c.want {
			t.Errorf("RateOf(%d, %d) = %s, %v; want %s", c.num, c.den, b, err, c.want)
		}
		if c.den == 0 {
			continue
		}
		var back *Rate
		if err := json.Unmarshal(b, &back); err != nil || back == nil || *back != *RateOf(c.num, c.den) {
			t.Errorf("%s does not read back: %v, %v", b, back, err)
		}
	}
}

func TestCentsText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"0": "0.00", "5": "0.05", "50": "0.50", "100": "1.00", "30000": "300.00",
		"-5": "-0.05", "99999999999999999999": "999999999999999999.99",
	} {
		if got := CentsText(in); got != want {
			t.Errorf("CentsText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEmptySumsAreObjects(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(DealSummary{})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"by_status":{"new":{"count":0,"total_amount":{}},"in_progress":{"count":0,"total_amount":{}},` +
		`"won":{"count":0,"total_amount":{}},"lost":{"count":0,"total_amount":{}}},"total_deals":0,` +
		`"average_won_amount":{},"win_rate":null,"new_deals_last_30_days":0,"as_of_position":0}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}
