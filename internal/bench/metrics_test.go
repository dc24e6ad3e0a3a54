package bench

import (
	"bufio"
	"math"
	"strings"
	"testing"
)

const metricsText = `# HELP crm_projection_delay_seconds x
# TYPE crm_projection_delay_seconds histogram
crm_projection_delay_seconds_bucket{le="0.001"} 0
crm_projection_delay_seconds_bucket{le="0.002"} 50
crm_projection_delay_seconds_bucket{le="0.004"} 90
crm_projection_delay_seconds_bucket{le="+Inf"} 100
crm_projection_delay_seconds_sum 0.25
crm_projection_delay_seconds_count 100
crm_projection_delay_seconds_other 7
crm_projection_batches_total{rows="known"} 30
crm_projection_batches_total{rows="read"} 12
`

// The W2 breakdown reads the server's histograms the way PromQL's
// histogram_quantile does: linear inside the bucket the rank falls in.
func TestHistogramQuantilesFromTheServersMetrics(t *testing.T) {
	t.Parallel()
	h, err := parseHistogram(bufio.NewScanner(strings.NewReader(metricsText)), "crm_projection_delay_seconds")
	if err != nil {
		t.Fatal(err)
	}
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-9 }
	if !near(h.quantile(0.5), 0.002) || !near(h.quantile(0.25), 0.0015) || !near(h.quantile(0.7), 0.003) {
		t.Fatalf("p50 %v p25 %v p70 %v; want 0.002 0.0015 0.003", h.quantile(0.5), h.quantile(0.25), h.quantile(0.7))
	}
	if h.quantile(0.99) != 0.004 { // in +Inf: the last finite bound
		t.Fatalf("p99 %v, want 0.004", h.quantile(0.99))
	}
	if !near(h.mean(), 0.0025) {
		t.Fatalf("mean %v", h.mean())
	}
	// What happened between two scrapes.
	before, _ := parseHistogram(bufio.NewScanner(strings.NewReader(strings.NewReplacer(
		`"0.002"} 50`, `"0.002"} 40`, `"0.004"} 90`, `"0.004"} 40`, `"+Inf"} 100`, `"+Inf"} 40`, "_count 100", "_count 40", "_sum 0.25", "_sum 0.05",
	).Replace(metricsText))), "crm_projection_delay_seconds")
	d := h.minus(before)
	if d.count != 60 || !near(d.quantile(0.5), 0.003) || !near(d.mean(), 0.2/60) {
		t.Fatalf("delta: count %v p50 %v mean %v", d.count, d.quantile(0.5), d.mean())
	}
	if !math.IsNaN((histogram{}).quantile(0.5)) {
		t.Fatal("an empty histogram has no quantile")
	}
}

// A counter's series is read by its name and labels as written.
func TestSampleFromTheServersMetrics(t *testing.T) {
	t.Parallel()
	for series, want := range map[string]float64{
		`crm_projection_batches_total{rows="read"}`:  12,
		`crm_projection_batches_total{rows="known"}`: 30,
		`crm_projection_batches_total{rows="none"}`:  0,
	} {
		got, err := parseSample(bufio.NewScanner(strings.NewReader(metricsText)), series)
		if err != nil || got != want {
			t.Errorf("%s: %v, %v; want %v", series, got, err, want)
		}
	}
}
