package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"
)

// Keys are the figures of docs/benchmarks.json, exactly as the issue
// names them (numbers; null when not measured).
var Keys = []string{"w1_ratio_32", "w1_p99_ms_8", "w2_p50_ms", "w2_p99_ms", "w2_loaded_p99_ms", "w2_drain_ms",
	"w1_cpu_ratio", "w3_p99_ms_max", "w3_deals_ratio_8", "w3_analytics_p99_ms", "w4_events_per_s", "w4_ratio",
	"w5_p99_ms", "w6_commits_per_s", "w7_rss_mb", "w7_ready_s"}

// Bar is one line of BENCHMARKS.md's bar.
type Bar struct {
	Key   string
	Max   bool // true: figure ≤ Value; false: figure ≥ Value
	Value float64
	Text  string
}

// Bars are the bars of BENCHMARKS.md, keyed by figure.
var Bars = []Bar{
	{"w1_ratio_32", false, 0.60, "≥ 0.60 × durable commit rate at 32"},
	{"w1_p99_ms_8", true, 15, "≤ 15 ms"},
	{"w1_cpu_ratio", true, 1.5, "≤ 1.5 × without projectors"},
	{"w2_p50_ms", true, 3, "≤ 3 ms"},
	{"w2_p99_ms", true, 10, "≤ 10 ms"},
	{"w2_loaded_p99_ms", true, 10, "≤ 10 ms"},
	{"w2_503", true, 0, "0"},
	{"w2_drain_ms", true, 1000, "≤ 1000 ms"},
	{"w3_p99_ms_max", true, 10, "≤ 10 ms"},
	{"w3_deals_ratio_8", false, 0.30, "≥ 0.30 × indexed read rate at 8"},
	{"w3_analytics_p99_ms", true, 5, "≤ 5 ms"},
	{"w4_events_per_s", false, 50000, "≥ 50k events/s"},
	{"w4_ratio", false, 0.25, "≥ 0.25 × sequential read rate"},
	{"w5_p99_ms", true, 10, "≤ 10 ms"},
	{"w6_commits_per_s", true, 20, "≤ 20 commits/s"},
	{"w7_rss_mb", true, 200, "≤ 200 MB"},
	{"w7_ready_s", true, 1, "≤ 1 s"},
}

// Row is one line of the results table.
type Row struct {
	Workload, Figure string
	Key              string   // the JSON key whose bar applies ("" for none)
	Value            *float64 // nil: not measured
	Unit             string
	Limit            string // the same-run physical limit beside it
	Note             string // n/a reason or context
}

// Report is one run's results.
type Report struct {
	Started  time.Time
	Machine  Machine
	Settings string // scale, durations
	Figures  map[string]*float64
	Extra    map[string]any
	Rows     []Row
	Notes    []string
}

// Machine describes where the run happened.
type Machine struct {
	NProc    int
	CPU      string
	Go       string
	Postgres string
	Note     string
}

func (m Machine) String() string {
	s := fmt.Sprintf("nproc=%d, %s, %s, PostgreSQL %s", m.NProc, m.CPU, m.Go, m.Postgres)
	if m.Note != "" {
		s += "; " + m.Note
	}
	return s
}

// NewReport returns an empty report with every key present (null).
func NewReport() *Report {
	r := &Report{Started: time.Now(), Figures: map[string]*float64{}, Extra: map[string]any{}}
	for _, k := range Keys {
		r.Figures[k] = nil
	}
	return r
}

// Set records a figure (NaN and infinities are stored as null).
func (r *Report) Set(key string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		r.Figures[key] = nil
		return
	}
	v = math.Round(v*1000) / 1000
	r.Figures[key] = &v
}

// Pass reports whether a figure meets its bar; ok is false when the
// figure has no bar or was not measured.
func (r *Report) Pass(key string) (pass, ok bool) {
	v := r.Figures[key]
	if v == nil {
		return false, false
	}
	for _, b := range Bars {
		if b.Key == key {
			if b.Max {
				return *v <= b.Value, true
			}
			return *v >= b.Value, true
		}
	}
	return false, false
}

// JSON is docs/benchmarks.json: every key of Keys, "machine", and extras.
func (r *Report) JSON() ([]byte, error) {
	m := map[string]any{}
	for k, v := range r.Extra {
		m[k] = v
	}
	for k, v := range r.Figures {
		if v == nil {
			m[k] = nil
		} else {
			m[k] = *v
		}
	}
	m["machine"] = r.Machine.String()
	m["started"] = r.Started.UTC().Format(time.RFC3339)
	m["settings"] = r.Settings
	return json.MarshalIndent(m, "", "  ")
}

func fmtValue(v *float64, unit string) string {
	if v == nil {
		return "n/a"
	}
	s := fmt.Sprintf("%.3g", *v)
	if math.Abs(*v) >= 1000 {
		s = fmt.Sprintf("%.0f", *v)
	} else if math.Abs(*v) >= 100 {
		s = fmt.Sprintf("%.1f", *v)
	}
	if unit != "" {
		s += " " + unit
	}
	return s
}

func (r *Report) barOf(key string) (string, string) {
	for _, b := range Bars {
		if b.Key == key {
			pass, ok := r.Pass(key)
			switch {
			case !ok:
				return b.Text, "—"
			case pass:
				return b.Text, "pass"
			default:
				return b.Text, "**FAIL**"
			}
		}
	}
	return "", ""
}

// Table writes the results table (markdown, also readable on a terminal).
func (r *Report) Table(w io.Writer) {
	fmt.Fprintln(w, "| workload | figure | value | same-run limit | bar | result | note |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- |")
	for _, row := range r.Rows {
		bar, res := r.barOf(row.Key)
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", row.Workload, row.Figure, fmtValue(row.Value, row.Unit),
			row.Limit, bar, res, row.Note)
	}
}

const historyHeading = "## History"

// Markdown is docs/benchmarks.md; previous is the old file (its History
// section is kept) and prevJSON the old JSON (for the before → after entry).
func (r *Report) Markdown(previous, prevJSON []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `make bench` (cmd/crmbench) on %s. Workloads and bars: BENCHMARKS.md. ", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	b.WriteString("Every figure sits beside its physical limit measured in the same run on the same machine; only ratios and same-run comparisons mean anything on a shared machine.\n\n")
	fmt.Fprintf(&b, "| machine | |\n| --- | --- |\n| nproc | %d |\n| CPU | %s |\n| Go | %s |\n| PostgreSQL | %s |\n| conditions | %s |\n| settings | %s |\n\n",
		r.Machine.NProc, r.Machine.CPU, r.Machine.Go, r.Machine.Postgres, r.Machine.Note, r.Settings)
	b.WriteString("## Results\n\n")
	r.Table(&b)
	if len(r.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	b.WriteString("\n" + historyHeading + "\n\n")
	b.WriteString("Each run appends one entry: the figures of the previous run → this run (same machine type, same run type only when the settings match).\n\n")
	if old := historyOf(string(previous)); old != "" {
		b.WriteString(old + "\n")
	}
	b.WriteString(r.historyEntry(prevJSON) + "\n")
	return b.String()
}

// historyOf returns the entries of a previous file's History section.
func historyOf(md string) string {
	i := strings.Index(md, historyHeading)
	if i < 0 {
		return ""
	}
	var entries []string
	for _, line := range strings.Split(md[i+len(historyHeading):], "\n") {
		if strings.HasPrefix(line, "- ") || strings.HasPrefix(line, "  ") {
			entries = append(entries, line)
		}
	}
	return strings.Join(entries, "\n")
}

func (r *Report) historyEntry(prevJSON []byte) string {
	var prev map[string]any
	_ = json.Unmarshal(prevJSON, &prev)
	keys := make([]string, 0, len(Keys))
	keys = append(keys, Keys...)
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		now := "null"
		if v := r.Figures[k]; v != nil {
			now = fmt.Sprintf("%g", *v)
		}
		before := "null"
		if pv, ok := prev[k].(float64); ok {
			before = fmt.Sprintf("%g", pv)
		}
		if prev == nil {
			parts = append(parts, fmt.Sprintf("%s %s", k, now))
		} else {
			parts = append(parts, fmt.Sprintf("%s %s → %s", k, before, now))
		}
	}
	settings := r.Settings
	if ps, ok := prev["settings"].(string); ok && ps != settings {
		settings += fmt.Sprintf(" (previous run: %s — not the same run type)", ps)
	}
	return fmt.Sprintf("- %s, %s: %s\n  %s", r.Started.UTC().Format("2006-01-02 15:04Z"), settings, r.Machine.Note, strings.Join(parts, "; "))
}

// WriteFiles writes docs/benchmarks.md and docs/benchmarks.json under dir,
// keeping the History of the previous markdown file.
func (r *Report) WriteFiles(mdPath, jsonPath string) error {
	prevMD, _ := os.ReadFile(mdPath)
	prevJSON, _ := os.ReadFile(jsonPath)
	js, err := r.JSON()
	if err != nil {
		return err
	}
	if err := os.WriteFile(mdPath, []byte(r.Markdown(prevMD, prevJSON)), 0o644); err != nil {
		return err
	}
	return os.WriteFile(jsonPath, append(js, '\n'), 0o644)
}

// CheckJSON checks that a benchmarks.json holds every key, each a number
// or null, and the machine text: what make bench-smoke asserts (never a
// timing).
func CheckJSON(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var problems []string
	for _, k := range Keys {
		v, ok := m[k]
		if !ok {
			problems = append(problems, k+" missing")
			continue
		}
		if _, num := v.(float64); v != nil && !num {
			problems = append(problems, fmt.Sprintf("%s is %T, not a number", k, v))
		}
	}
	if s, ok := m["machine"].(string); !ok || s == "" {
		problems = append(problems, "machine missing")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %s", path, strings.Join(problems, "; "))
	}
	return nil
}
