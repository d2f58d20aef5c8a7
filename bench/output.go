package bench

import (
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the result as a table: a block per scenario, a row
// per pair and metric (median, min-max over the repetitions).
func WriteTable(w io.Writer, res *Result) error {
	fmt.Fprintf(w, "mptcp bench: %s, %d CPUs, %s, load %s at start; %d repetition(s)%s; %.0f s\n",
		res.Machine.Kernel, res.Machine.CPUs, res.Machine.Go, res.Machine.Load, res.Reps, map[bool]string{true: " (short)"}[res.Short], res.Duration)
	fmt.Fprintf(w, "congestion control: %s on every flow, the kernel's and ours (the host's default: %s)\n",
		res.CongestionControl, res.Machine.HostCongestionControl)
	for _, s := range res.Scenarios {
		fmt.Fprintf(w, "\n%s: %s\n  paths: %s; %s\n", s.Name, s.What, s.Paths, sizeText(s))
		if s.Goal != "" {
			fmt.Fprintf(w, "  goal: %s\n", s.Goal)
		}
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  pair\tmetric\tmedian\tmin-max\t")
		for _, r := range res.Rows {
			if r.Scenario != s.Name {
				continue
			}
			if len(r.Values) == 0 {
				fmt.Fprintf(tw, "  %s\t%s\tfailed: %s\t\t\n", r.Pair, r.Metric, r.Error)
				continue
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s %s\t%s-%s\t", r.Pair, r.Metric, num(r.Median), r.Unit, num(r.Min), num(r.Max))
			if r.Error != "" {
				fmt.Fprintf(tw, " (then failed: %s)", r.Error)
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}
	return nil
}

func sizeText(s Scenario) string {
	switch s.Name {
	case "request-response":
		return fmt.Sprintf("%d exchanges per repetition", s.Bytes)
	case "connections":
		return fmt.Sprintf("%d connections", s.Bytes)
	}
	return fmt.Sprintf("%d MiB per transfer", s.Bytes>>20)
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// WritePlots writes an SVG bar chart per scenario and metric into dir:
// the median of each pair as a bar, the spread as a line.
func WritePlots(dir string, res *Result) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	for _, s := range res.Scenarios {
		var metrics []string
		for _, r := range res.Rows {
			if r.Scenario == s.Name && !strings.HasPrefix(r.Metric, "share") && !containsStr(metrics, r.Metric) {
				metrics = append(metrics, r.Metric)
			}
		}
		for _, m := range metrics {
			var rows []Row
			for _, r := range res.Rows {
				if r.Scenario == s.Name && r.Metric == m {
					rows = append(rows, r)
				}
			}
			name := filepath.Join(dir, fmt.Sprintf("%s-%s.svg", s.Name, strings.NewReplacer(" ", "-", "(", "", ")", "").Replace(m)))
			if err := os.WriteFile(name, []byte(barSVG(s, m, rows)), 0o644); err != nil {
				return files, err
			}
			files = append(files, name)
		}
	}
	return files, nil
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// barSVG draws horizontal bars, one per pair.
func barSVG(s Scenario, metric string, rows []Row) string {
	const w, left, right, barH, gap, top = 760, 170, 110, 26, 12, 58
	h := top + len(rows)*(barH+gap) + 30
	maxV := 0.0
	unit := ""
	for _, r := range rows {
		maxV = max(maxV, r.Max)
		unit = r.Unit
	}
	if maxV == 0 {
		maxV = 1
	}
	scale := float64(w-left-right) / maxV
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="13">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="22" font-size="15" font-weight="bold">%s: %s</text>`+"\n", html.EscapeString(s.Name), html.EscapeString(metric))
	fmt.Fprintf(&b, `<text x="10" y="42" fill="#555">%s</text>`+"\n", html.EscapeString(s.Paths))
	colors := []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#7f7f7f", "#9467bd"}
	for i, r := range rows {
		y := top + i*(barH+gap)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+barH/2+5, html.EscapeString(r.Pair))
		if len(r.Values) == 0 {
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#b00">failed</text>`+"\n", left+4, y+barH/2+5)
			continue
		}
		bw := int(r.Median * scale)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", left, y, max(bw, 1), barH, colors[i%len(colors)])
		x1, x2 := left+int(r.Min*scale), left+int(r.Max*scale)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black" stroke-width="2"/>`+"\n", x1, y+barH/2, x2, y+barH/2)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s %s</text>`+"\n", left+max(bw, x2-left)+6, y+barH/2+5, num(r.Median), html.EscapeString(unit))
	}
	fmt.Fprintf(&b, `<text x="10" y="%d" fill="#555" font-size="11">bar: median; line: min-max over the repetitions</text>`+"\n", h-10)
	b.WriteString("</svg>\n")
	return b.String()
}
