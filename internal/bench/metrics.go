package bench

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// histogram is a Prometheus histogram read from the server's /metrics:
// cumulative counts by upper bound, the sum and the count.
type histogram struct {
	le     []float64 // upper bounds, ascending (+Inf last)
	counts []float64 // cumulative counts, by le
	sum    float64
	count  float64
}

// scrapeHistogram reads histogram name from the server's /metrics (text
// format). A missing histogram is empty, not an error: an older binary
// may not have it.
func (c *Client) scrapeHistogram(ctx context.Context, name string) (histogram, error) {
	var h histogram
	err := c.scrape(ctx, func(sc *bufio.Scanner) (err error) {
		h, err = parseHistogram(sc, name)
		return err
	})
	return h, err
}

// scrapeSample reads the value of one series (its name and labels as
// the text format writes them, e.g. `x_total{kind="a"}`) from the
// server's /metrics; 0 when the series is missing.
func (c *Client) scrapeSample(ctx context.Context, series string) (float64, error) {
	var v float64
	err := c.scrape(ctx, func(sc *bufio.Scanner) (err error) {
		v, err = parseSample(sc, series)
		return err
	})
	return v, err
}

func (c *Client) scrape(ctx context.Context, parse func(*bufio.Scanner) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parse(bufio.NewScanner(resp.Body))
}

func parseSample(sc *bufio.Scanner, series string) (float64, error) {
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", sc.Text(), err)
			}
			return f, nil
		}
	}
	return 0, sc.Err()
}

func parseHistogram(sc *bufio.Scanner, name string) (histogram, error) {
	var h histogram
	type bucket struct{ le, n float64 }
	var bs []bucket
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		key, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			return h, fmt.Errorf("%s: %w", line, err)
		}
		switch {
		case key == name+"_sum":
			h.sum = v
		case key == name+"_count":
			h.count = v
		case strings.HasPrefix(key, name+`_bucket{le="`):
			le := strings.TrimSuffix(strings.TrimPrefix(key, name+`_bucket{le="`), `"}`)
			b, err := strconv.ParseFloat(le, 64) // "+Inf" parses as +Inf
			if err != nil {
				return h, fmt.Errorf("%s: %w", line, err)
			}
			bs = append(bs, bucket{b, v})
		}
	}
	slices.SortFunc(bs, func(a, b bucket) int { return cmpFloat(a.le, b.le) })
	for _, b := range bs {
		h.le, h.counts = append(h.le, b.le), append(h.counts, b.n)
	}
	return h, sc.Err()
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// minus returns what was observed between o and h (o scraped first).
func (h histogram) minus(o histogram) histogram {
	d := histogram{le: h.le, counts: slices.Clone(h.counts), sum: h.sum - o.sum, count: h.count - o.count}
	if len(o.counts) == len(h.counts) {
		for i := range d.counts {
			d.counts[i] -= o.counts[i]
		}
	}
	return d
}

// quantile estimates quantile q by linear interpolation inside the
// bucket it falls in, as PromQL's histogram_quantile does; NaN when
// nothing was observed.
func (h histogram) quantile(q float64) float64 {
	if h.count <= 0 || len(h.le) == 0 {
		return math.NaN()
	}
	rank := q * h.count
	lower, below := 0.0, 0.0
	for i, le := range h.le {
		if h.counts[i] >= rank {
			if math.IsInf(le, 1) {
				return lower // beyond the last bound: its lower edge
			}
			in := h.counts[i] - below
			if in <= 0 {
				return le
			}
			return lower + (le-lower)*(rank-below)/in
		}
		lower, below = le, h.counts[i]
	}
	return lower
}

// mean is the average observation; NaN when nothing was observed.
func (h histogram) mean() float64 {
	if h.count <= 0 {
		return math.NaN()
	}
	return h.sum / h.count
}
